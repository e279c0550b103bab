//! Registry-level behaviour shown with the built-in connectors: named
//! connections resolved into endpoints, inline task secrets taken out and
//! put back, the published type matrix, the assembled JSON Schema.

#![cfg(all(feature = "postgres", feature = "mysql", feature = "sqlite"))]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ferry_core::spec::{ConnectionSpec, TaskSpec, Trust};
use serde_json::Map;

fn conn(v: serde_json::Value) -> ConnectionSpec {
    serde_json::from_value(v).expect("connection")
}

fn task(source: serde_json::Value, sink: serde_json::Value) -> TaskSpec {
    serde_json::from_value(serde_json::json!({"name": "t", "source": source, "sink": sink}))
        .expect("task")
}

#[test]
fn puts_the_url_and_password_in() {
    let c = ferry_connectors::open_connection(
        &conn(
            serde_json::json!({"type": "postgres", "url": "postgresql://bob:p%40ss@db:5432/sales"}),
        ),
        &Trust::Local,
    )
    .expect("parses");
    let stored = ConnectionSpec {
        connector: "postgres".into(),
        options: c.options().expect("options"),
    };
    assert_eq!(stored.options["url"], "postgresql://bob@db:5432/sales");
    assert_eq!(stored.options["password"], "p@ss");
    let lookup = HashMap::from([("wh".to_string(), stored)]);
    let mut t = task(
        serde_json::json!({"type": "postgres", "connection": "wh", "table": "t"}),
        serde_json::json!({"type": "sqlite", "path": "/tmp/x.db", "table": "t"}),
    );
    assert_eq!(
        ferry_connectors::connection_names(&t),
        vec!["wh".to_string()]
    );
    ferry_connectors::resolve_task(&mut t, &lookup, &Trust::Local).expect("resolves");
    assert_eq!(
        t.source.options["url"],
        "postgresql://bob:p%40ss@db:5432/sales"
    );
    assert!(t.source.connection_name().is_none());
}

#[test]
fn errors_name_the_field() {
    let lookup = HashMap::from([(
        "wh".to_string(),
        conn(serde_json::json!({"type": "postgres", "url": "postgresql://db/x"})),
    )]);
    let mut t = task(
        serde_json::json!({"type": "mariadb", "connection": "wh", "table": "t"}),
        serde_json::json!({"type": "postgres", "connection": "nope", "table": "t"}),
    );
    let e = ferry_connectors::resolve_task(&mut t, &lookup, &Trust::Local).expect_err("type");
    assert!(e.to_string().contains("source.connection"), "{e}");
    assert!(e.to_string().contains("postgres connection"), "{e}");
    t.source.connector = "postgres".into();
    let e = ferry_connectors::resolve_task(&mut t, &lookup, &Trust::Local).expect_err("missing");
    assert!(e.to_string().contains("sink.connection"), "{e}");
    assert!(e.to_string().contains("no connection named `nope`"), "{e}");
    let mut t = task(
        serde_json::json!({"type": "postgres", "connection": "wh", "url": "postgresql://x/y", "table": "t"}),
        serde_json::json!({"type": "postgres", "url": "postgresql://db/x", "table": "u"}),
    );
    let e = ferry_connectors::resolve_task(&mut t, &lookup, &Trust::Local).expect_err("both");
    assert!(e.to_string().contains("source.url"), "{e}");
}

fn url_task(url: &str) -> TaskSpec {
    serde_json::from_value(serde_json::json!({
        "name": "t",
        "source": {"type": "postgres", "url": url, "table": "a"},
        "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "b"}
    }))
    .expect("task")
}

#[test]
fn url_passwords_leave_the_spec_and_come_back() {
    for url in [
        "postgresql://postgres:pw123@h:5432/db",
        "postgresql://postgres@h:5432/db?password=pw123",
    ] {
        let mut t = url_task(url);
        let secrets = ferry_connectors::take_task_secrets(&mut t).expect("take");
        let stored = serde_json::to_string(&t).expect("json");
        assert!(!stored.contains("pw123"), "{stored}");
        assert_eq!(secrets["source"]["password"], "pw123");
        assert!(!secrets.contains_key("sink"));
        let mut shown = t.clone();
        ferry_connectors::put_task_secrets(
            &mut shown,
            &ferry_connectors::redacted_secrets(&secrets),
        )
        .expect("view");
        assert_eq!(
            shown.source.options["url"],
            "postgresql://postgres:***@h:5432/db"
        );
        ferry_connectors::put_task_secrets(&mut t, &secrets).expect("put");
        assert_eq!(
            t.source.options["url"],
            "postgresql://postgres:pw123@h:5432/db"
        );
    }
    // What the store holds: the spec without the password, the password sealed.
    let mut stored_spec = url_task("postgresql://postgres:pw123@h:5432/db");
    let stored = ferry_connectors::take_task_secrets(&mut stored_spec).expect("take");
    // A client sends back what it read: `***` keeps the stored password.
    let mut back = url_task("postgresql://postgres:***@h:5432/db");
    let mut secrets = ferry_connectors::take_task_secrets(&mut back).expect("take");
    ferry_connectors::keep_stored_secrets(&back, &mut secrets, Some(&stored_spec), &stored)
        .expect("keep");
    assert_eq!(secrets["source"]["password"], "pw123");
    // Pointing the endpoint elsewhere (host, user, database, ?host=) while
    // keeping `***` would send the stored password there: refused.
    for elsewhere in [
        "postgresql://postgres:***@attacker.example:5432/db",
        "postgresql://postgres:***@h:5433/db",
        "postgresql://other:***@h:5432/db",
        "postgresql://postgres:***@h:5432/other",
        "postgresql://postgres:***@h:5432/db?host=attacker.example",
    ] {
        let mut moved = url_task(elsewhere);
        let mut secrets = ferry_connectors::take_task_secrets(&mut moved).expect("take");
        let e = ferry_connectors::keep_stored_secrets(
            &moved,
            &mut secrets,
            Some(&stored_spec),
            &stored,
        )
        .expect_err(elsewhere)
        .to_string();
        assert!(
            e.contains("source.password") && e.contains("elsewhere"),
            "{elsewhere}: {e}"
        );
    }
    let mut orphan = Map::from_iter([("sink".to_string(), serde_json::json!({"password": "***"}))]);
    assert!(
        ferry_connectors::keep_stored_secrets(&back, &mut orphan, Some(&stored_spec), &stored)
            .expect_err("nothing stored")
            .to_string()
            .contains("sink.password")
    );
}

#[test]
fn matrix_shows_the_real_mappings() {
    let md = ferry_connectors::matrix::type_matrix_markdown();
    assert!(md.contains(
        "| `decimal(15,2)` | `Decimal128(15, 2)` | `numeric(15,2)` | yes | `DECIMAL(15,2)` | yes | `DECIMAL(15,2)` | yes |"
    ), "{md}");
    assert!(md.contains("| `numeric(50,10)` | `decimal_text` |"), "{md}");
    assert!(
        md.contains("| `bigint unsigned` | `decimal(20,0)` |"),
        "{md}"
    );
    assert!(
        md.contains("| `MONEY` | Numeric | `decimal_text` |"),
        "{md}"
    );
    assert!(
        md.contains("| `interval` | `interval` | binary COPY (`Interval`) |"),
        "{md}"
    );
    assert!(
        md.contains("| `numeric(10,2)[]` | `list<decimal(10,2)>` | binary COPY (`Array(Numeric)`"),
        "{md}"
    );
    assert!(
        md.contains("| `my_enum` | `text` | binary COPY (`Text`) |"),
        "{md}"
    );
    assert!(md.contains("| `inet[]` | `text` | `::text`"), "{md}");
    assert!(md.contains("| `bit(1)` | `bool` |"), "{md}");
    assert!(md.contains("| `bit(63)` | `int64` |"), "{md}");
    assert!(
        md.contains("| `interval` | `Interval(MonthDayNano)` | `interval` | yes | `LONGTEXT` | no: `text` | `TEXT` | no: `text` |"),
        "{md}"
    );
    assert!(
        md.contains("| `list<int32>` | `List(Int32)` | `integer[]` | yes | `JSON` | no: `json` | `JSON_TEXT` | no: `json` |"),
        "{md}"
    );
}

#[test]
fn validation_names_the_connectors_option() {
    let t: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t", "tabel": "u"},
        "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "u"}
    }))
    .unwrap();
    let e = ferry_connectors::validate_local(&t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.tabel"), "{e}");
    let same: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "loop",
        "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t"},
        "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "public.t"}
    }))
    .unwrap();
    let e = ferry_connectors::validate_local(&same)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("source public.t itself") || e.contains("itself"),
        "{e}"
    );
    let unknown: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "oracle", "url": "x", "table": "t"},
        "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "u"}
    }))
    .unwrap();
    let e = ferry_connectors::validate_local(&unknown)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.type") && e.contains("`postgres`"), "{e}");
    let aliased: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t"},
        "sink": {"type": "mariadb", "url": "mysql://h/db", "table": "u"}
    }))
    .unwrap();
    let v = ferry_connectors::validate_local(&aliased).unwrap();
    assert_eq!(v.sink.connector(), "mysql");
    assert_eq!(v.spec.sink.connector, "mysql");
}

#[test]
fn the_server_refuses_the_environment_and_foreign_paths() {
    let roots = Trust::Server(ferry_core::spec::FileRoots {
        files_root: Some(std::env::temp_dir()),
        ..Default::default()
    });
    let t: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t", "password_env": "FERRY_SECRET_KEY"},
        "sink": {"type": "sqlite", "path": "x.db", "table": "u"}
    }))
    .unwrap();
    let e = t
        .validate(&ferry_connectors::Registry, &roots)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.password_env"), "{e}");
    assert!(ferry_connectors::validate_local(&t).is_ok());
    let t: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "sqlite", "path": "/etc/x.db", "table": "t"},
        "sink": {"type": "sqlite", "path": "x.db", "table": "u"}
    }))
    .unwrap();
    let e = t
        .validate(&ferry_connectors::Registry, &roots)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.path"), "{e}");
}

#[test]
fn debug_of_specs_hides_passwords() {
    let t: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "x",
        "source": {"type": "postgres", "url": "postgresql://u:pw123@h/db", "table": "t"},
        "sink": {"type": "mysql", "url": "mysql://u:pw456@h/db", "table": "u"}
    }))
    .unwrap();
    let v = ferry_connectors::validate_local(&t).unwrap();
    let shown = format!("{t:?} {v:?}");
    assert!(
        !shown.contains("pw123") && !shown.contains("pw456"),
        "{shown}"
    );
}

#[test]
fn a_ca_file_through_the_server_must_lie_under_its_files_root() {
    let roots = Trust::Server(ferry_core::spec::FileRoots {
        files_root: Some(std::env::temp_dir()),
        ..Default::default()
    });
    let with_ca = |ca: &str| -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "name": "x",
            "source": {"type": "postgres", "url": format!("postgresql://h/db?sslmode=verify-full&sslrootcert={ca}"), "table": "t"},
            "sink": {"type": "sqlite", "path": "x.db", "table": "u"}
        }))
        .unwrap()
    };
    let e = with_ca("/etc/ssl/private/key.pem")
        .validate(&ferry_connectors::Registry, &roots)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.url.sslrootcert"), "{e}");
    assert!(
        with_ca("ca.pem")
            .validate(&ferry_connectors::Registry, &roots)
            .is_ok()
    );
    assert!(
        ferry_connectors::validate_local(&with_ca("/etc/ssl/private/key.pem")).is_ok(),
        "a job file run locally may name any CA file"
    );
}

#[test]
fn server_urls_are_one_checkable_host_and_no_local_socket() {
    let roots = Trust::Server(ferry_core::spec::FileRoots {
        files_root: Some(std::env::temp_dir()),
        ..Default::default()
    });
    let task = |url: &str| -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "name": "x",
            "source": {"type": "postgres", "url": url, "table": "t"},
            "sink": {"type": "sqlite", "path": "x.db", "table": "u"}
        }))
        .unwrap()
    };
    for (url, field) in [
        (
            "postgresql:///ferry?host=/var/run/postgresql&user=ferry",
            "source.url.host",
        ),
        ("postgresql://u@h/db?host=%2Fvar%2Frun", "source.url.host"),
        (
            "mysql://root@h/db?socket=/run/mysqld/mysqld.sock",
            "source.url.socket",
        ),
        (
            "postgresql://u@h1:5432,h2:5432/db?sslrootcert=/dev/zero",
            "source.url",
        ),
    ] {
        let mut t = task(url);
        if url.starts_with("mysql") {
            t.source.connector = "mysql".into();
        }
        let e = t.validate(&ferry_connectors::Registry, &roots).unwrap_err();
        match &e {
            ferry_core::Error::InvalidConfig { field: f, .. } => assert_eq!(f, field, "{url}: {e}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    // A password in such a URL is refused, not stored in clear.
    let mut t = task("postgresql://app:S3cret@db1:5432,db2:5432/sales");
    let e = ferry_connectors::take_task_secrets(&mut t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.url") && !e.contains("S3cret"), "{e}");
    // Job files run locally keep what the driver accepts.
    assert!(ferry_connectors::validate_local(&task("postgresql://u@h1:5432,h2:5432/db")).is_ok());
}

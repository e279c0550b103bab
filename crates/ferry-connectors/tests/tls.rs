//! `sslmode` / `sslrootcert` against real TLS servers: the TLS-only
//! PostgreSQL 15 and MariaDB that `scripts/pg_tls.sh start` runs (ports
//! 5433 and 3307, certificate for `localhost` and 127.0.0.1 signed by a test
//! CA; both refuse connections without TLS). URLs and CA files come from
//! `FERRY_TEST_PG_TLS_URL`, `FERRY_TEST_MYSQL_TLS_URL`, `FERRY_TEST_TLS_CA`
//! and `FERRY_TEST_TLS_WRONG_CA`; a missing server or file fails the tests.
//! Table contents are checked with `psql` / `mariadb`, not with Ferry.
#![cfg(all(feature = "postgres", feature = "mysql"))]
#![allow(clippy::unwrap_used)]

use std::process::Command;

use arrow::record_batch::RecordBatch;
use ferry_connectors::common::server_spec::SqlEndpoint;
use ferry_connectors::mysql::MysqlSink;
use ferry_connectors::postgres::{PostgresSink, PostgresSource};
use ferry_core::connector::ReadOptions;
use ferry_core::spec::{ConnectionSpec, SyncMode, TableName, Trust};
use ferry_core::{ErrorKind, Rejects, Sink, Source, TableSchema};
use ferry_testkit::{mysql_tls_url, pg_tls_url, tls_ca, tls_wrong_ca, unique};
use futures::StreamExt;

/// `base` with TLS parameters appended.
fn with(base: &str, params: &str) -> String {
    format!("{base}?{params}")
}

/// `url` with its host replaced.
fn host(url: &str, host: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_host(Some(host)).unwrap();
    u.to_string()
}

fn verify_full() -> String {
    with(
        &pg_tls_url(),
        &format!("sslmode=verify-full&sslrootcert={}", tls_ca()),
    )
}

/// Runs SQL with psql over verified TLS; its output (unaligned, tuples only).
fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &verify_full(),
            "-c",
            sql,
        ])
        .output()
        .expect("psql is required for this test");
    assert!(
        out.status.success(),
        "psql {sql}: {} (is `bash scripts/pg_tls.sh start` running?)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn endpoint(url: &str, table: &str) -> SqlEndpoint {
    SqlEndpoint {
        connection: None,
        url: url.into(),
        password_env: None,
        table: table.into(),
    }
}

fn name(table: &str) -> TableName {
    TableName::parse("table", table).unwrap()
}

/// Tests a named connection of `connector` to `url` as the server does.
async fn probe(connector: &str, url: &str) -> ferry_core::Result<String> {
    let spec = ConnectionSpec {
        connector: connector.into(),
        options: serde_json::Map::from_iter([("url".to_string(), serde_json::json!(url))]),
    };
    let c = ferry_connectors::open_connection(&spec, &Trust::Local)?;
    Ok(c.test().await?.server_version)
}

async fn probe_pg(url: &str) -> ferry_core::Result<String> {
    probe("postgres", url).await
}

async fn probe_my(url: &str) -> ferry_core::Result<String> {
    probe("mysql", url).await
}

async fn read_all(url: &str, table: &str) -> ferry_core::Result<(TableSchema, Vec<RecordBatch>)> {
    let src = PostgresSource::new(&endpoint(url, table), &name(table))?;
    let schema = src.schema().await?;
    let options = ReadOptions {
        readers: 1,
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        max_splits: 2,
        min_rows_per_split: 1,
        batch_bytes: 1 << 20,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = src.open_read(&schema, &options).await?;
    let mut batches = Vec::new();
    for split in session.splits().to_vec() {
        let mut stream = session.read_split(&split, &Rejects::strict()).await?;
        while let Some(b) = stream.next().await {
            batches.push(b?);
        }
    }
    session.close().await?;
    Ok((schema, batches))
}

async fn write_all(sink: &dyn Sink, schema: &TableSchema, batches: Vec<RecordBatch>) {
    let mut w = sink.prepare(schema, SyncMode::FullOverwrite).await.unwrap();
    w.write_all(
        futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
        &Rejects::strict(),
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_reads_and_writes_over_tls() {
    let src = unique("tls_src");
    let dst = unique("tls_dst");
    psql(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, note text);
         INSERT INTO {src} SELECT g, 'row ' || g || ' ☃' FROM generate_series(1, 500) g"
    ));
    let url = verify_full();
    let (schema, batches) = read_all(&url, &src).await.unwrap();
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        500
    );
    let sink = PostgresSink::new(&endpoint(&url, &dst), &name(&dst)).unwrap();
    write_all(&sink, &schema, batches).await;
    let digest = |t: &str| {
        psql(&format!(
            "SELECT count(*) || ' ' || md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM {t}"
        ))
    };
    assert!(digest(&dst).starts_with("500 "));
    assert_eq!(digest(&dst), digest(&src));
    psql(&format!("DROP TABLE {src}; DROP TABLE {dst}"));
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let ca = tls_ca();
    // 127.0.0.1 is in the certificate; 127.0.0.2 (same server) is not.
    for h in ["127.0.0.1", "127.0.0.2"] {
        let url = with(
            &host(&pg_tls_url(), h),
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        );
        probe_pg(&url)
            .await
            .unwrap_or_else(|e| panic!("verify-ca to {h}: {e}"));
    }
    let url = with(
        &host(&pg_tls_url(), "127.0.0.2"),
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let e = probe_pg(&url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("does not name this host"), "{e}");
    assert!(e.to_string().contains("sslmode=verify-full"), "{e}");
}

#[tokio::test]
async fn a_wrong_ca_fails_clearly() {
    let wrong = tls_wrong_ca();
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = with(
            &pg_tls_url(),
            &format!("sslmode={mode}&sslrootcert={wrong}"),
        );
        let e = probe_pg(&url).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{mode}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("not trusted with the CA file {wrong}")),
            "{mode}: {msg}"
        );
        assert!(msg.contains(&format!("sslmode={mode}")), "{mode}: {msg}");
    }
    // Without a CA file, verify-full trusts only the public roots.
    let e = probe_pg(&with(&pg_tls_url(), "sslmode=verify-full"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("built-in public roots"), "{e}");
}

#[tokio::test]
async fn unverified_modes_still_encrypt() {
    // require / prefer without a CA file: TLS, nothing verified (libpq).
    for mode in ["require", "prefer"] {
        probe_pg(&with(&pg_tls_url(), &format!("sslmode={mode}")))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
    }
    // The default is prefer, so a plain URL reaches a TLS-only server too.
    probe_pg(&pg_tls_url()).await.unwrap();
}

#[tokio::test]
async fn sslmode_disable_is_refused_by_a_tls_only_server() {
    let e = probe_pg(&with(&pg_tls_url(), "sslmode=disable"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("no encryption"), "{msg}");
    assert!(msg.contains("sslmode=disable"), "{msg}");
}

#[tokio::test]
async fn a_missing_ca_file_is_invalid_config() {
    let url = with(
        &pg_tls_url(),
        "sslmode=verify-full&sslrootcert=/nonexistent/ferry-ca.pem",
    );
    let e = probe_pg(&url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(
        e.to_string()
            .contains("sslrootcert /nonexistent/ferry-ca.pem"),
        "{e}"
    );
    let e = probe_pg(&with(&pg_tls_url(), "sslmode=verify"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
}

fn mariadb(sql: &str) -> String {
    let u = url::Url::parse(&mysql_tls_url()).unwrap();
    let out = Command::new("mariadb")
        .args([
            "--no-defaults",
            "-N",
            "-B",
            "--ssl",
            "--ssl-verify-server-cert",
        ])
        .arg(format!("--ssl-ca={}", tls_ca()))
        .arg(format!("-h{}", u.host_str().unwrap()))
        .arg(format!("-P{}", u.port().unwrap()))
        .arg(format!("-u{}", u.username()))
        .args(["-D", u.path().trim_start_matches('/'), "-e", sql])
        .output()
        .expect("the mariadb client is required for this test");
    assert!(
        out.status.success(),
        "mariadb {sql}: {} (is `bash scripts/pg_tls.sh start` running?)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_verify_full_writes_over_tls() {
    let ca = tls_ca();
    // Read from the TLS PostgreSQL, write to the TLS MariaDB.
    let src = unique("tls_my_src");
    psql(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, note varchar(20));
         INSERT INTO {src} SELECT g, 'n' || g FROM generate_series(1, 300) g"
    ));
    let (schema, batches) = read_all(&verify_full(), &src).await.unwrap();
    let dst = unique("tls_my_dst");
    for spelling in [
        format!("sslmode=verify-full&sslrootcert={ca}"),
        format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ] {
        let url = with(&mysql_tls_url(), &spelling);
        let sink = MysqlSink::new(&endpoint(&url, &dst), &name(&dst)).unwrap();
        write_all(&sink, &schema, batches.clone()).await;
        assert_eq!(
            mariadb(&format!(
                "SELECT concat(count(*), ' ', sum(id), ' ', max(note)) FROM {dst}"
            )),
            "300 45150 n99",
            "{spelling}"
        );
    }
    mariadb(&format!("DROP TABLE {dst}"));
    psql(&format!("DROP TABLE {src}"));
}

#[tokio::test]
async fn mariadb_modes_and_errors() {
    let (ca, wrong) = (tls_ca(), tls_wrong_ca());
    let base = mysql_tls_url();
    probe_my(&with(
        &host(&base, "127.0.0.1"),
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    probe_my(&with(&base, "ssl-mode=REQUIRED")).await.unwrap();
    probe_my(&with(&base, "sslmode=prefer")).await.unwrap();

    let e = probe_my(&with(
        &base,
        &format!("sslmode=verify-full&sslrootcert={wrong}"),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("not trusted with the CA file {wrong}")),
        "{e}"
    );
    assert!(e.to_string().contains("sslmode=verify-full"), "{e}");

    let e = probe_my(&with(
        &base,
        "sslrootcert=/nonexistent/ca.pem&sslmode=verify-ca",
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");

    // The server requires secure transport: without TLS it refuses.
    let e = probe_my(&with(&base, "sslmode=disable")).await.unwrap_err();
    assert_ne!(e.kind(), ErrorKind::Internal, "{e}");
}

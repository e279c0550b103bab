//! The CLI's non-sync commands.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn published_json_schema_is_generated_from_the_code() {
    let out = std::process::Command::new(FERRY)
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/task.schema.json");
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        generated, published,
        "docs/task.schema.json is stale: run `ferry schema > docs/task.schema.json`"
    );
    assert_eq!(generated["additionalProperties"], false);
}

#[test]
fn connectors_lists_the_registry() {
    let out = std::process::Command::new(FERRY)
        .args(["connectors", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["postgres", "mysql", "sqlite", "files", "delta", "iceberg"]
    );
    for c in v.as_array().unwrap() {
        // The lake connectors are built only with their Cargo features.
        let built = match c["name"].as_str() {
            Some("delta") => cfg!(feature = "delta"),
            Some("iceberg") => cfg!(feature = "iceberg"),
            _ => true,
        };
        assert_eq!(c["enabled"], built, "{c}");
        if built {
            assert!(c["source"] == true && c["sink"] == true, "{c}");
        }
    }
}

#[test]
fn validate_does_no_io() {
    // An unreachable host is fine for validate: it only checks the file.
    let yaml = "name: t\nsource: {type: postgres, url: \"postgresql://nobody@127.0.0.1:1/x\", table: a}\nsink: {type: sqlite, path: /nonexistent/dir/x.db, table: b}\n";
    let out = run_ferry(FERRY, &["validate"], yaml);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("ok (task t, postgres a -> sqlite b, full_overwrite)"),
        "{}",
        out.stdout
    );
}

#[test]
fn published_type_matrix_is_generated_from_the_code() {
    let out = std::process::Command::new(FERRY)
        .arg("types")
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/type-matrix.md");
    let published = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        generated, published,
        "docs/type-matrix.md is stale: run `ferry types > docs/type-matrix.md`"
    );
    assert!(generated.contains("do not edit by hand"));
    // decimal(15,2): Decimal128 in Arrow, numeric/DECIMAL in each dialect, and back.
    assert!(
        generated.contains(
            "| `decimal(15,2)` | `Decimal128(15, 2)` | `numeric(15,2)` | yes | `DECIMAL(15,2)` | yes | `DECIMAL(15,2)` | yes |"
        ),
        "{generated}"
    );
    // Wide and unconstrained decimals are carried as exact text.
    assert!(generated.contains("| `numeric(50,10)` | `decimal_text` |"));
    assert!(generated.contains("| `decimal(65,30)` | `decimal_text` |"));
}

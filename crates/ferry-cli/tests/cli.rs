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
    assert_eq!(names, ["postgres", "mysql", "sqlite"]);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|c| c["enabled"] == true && c["source"] == true && c["sink"] == true)
    );
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

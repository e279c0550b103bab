//! A PostgreSQL store over TLS: the TLS-only cluster of
//! `scripts/pg_tls.sh start` (`FERRY_TEST_PG_TLS_URL`, CA files from
//! `FERRY_TEST_TLS_CA` / `FERRY_TEST_TLS_WRONG_CA`). A missing server or
//! file fails the tests.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferry_core::ErrorKind;
use ferry_store::Store;
use ferry_testkit::{pg_tls_url, tls_ca, tls_wrong_ca, unique};

/// A fresh database on the TLS cluster (created with psql); its URL.
fn fresh_database() -> String {
    let db = unique("ferry_store_tls");
    let admin = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg_tls_url(),
        tls_ca()
    );
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-d",
            &admin,
            "-c",
            &format!("CREATE DATABASE {db}"),
        ])
        .output()
        .expect("psql is required for this test");
    assert!(
        out.status.success(),
        "CREATE DATABASE on the TLS cluster: {} (is `bash scripts/pg_tls.sh start` running?)",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = pg_tls_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{db}")
}

#[tokio::test]
async fn the_store_opens_with_verify_full_and_refuses_a_wrong_ca() {
    let url = fresh_database();
    let store = Store::open(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        tls_ca()
    ))
    .await
    .unwrap();
    store.ping().await.unwrap();
    store.close().await;

    let wrong = tls_wrong_ca();
    let e = Store::open(&format!("{url}?sslmode=verify-full&sslrootcert={wrong}"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("not trusted with the CA file {wrong}")),
        "{e}"
    );
    assert!(e.to_string().contains("sslmode=verify-full"), "{e}");

    let e = Store::open(&format!(
        "{url}?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("sslrootcert"), "{e}");

    // The cluster refuses connections without TLS.
    let e = Store::open(&format!("{url}?sslmode=disable"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
}

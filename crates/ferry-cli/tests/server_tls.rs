//! `ferry server --tls-cert/--tls-key` serves HTTPS, and the CLI's client
//! verifies it: with the CA (`--ca-file` / `FERRY_CA_FILE`) it gets an
//! answer, without it (or with another CA) it refuses the server. The
//! certificate and CAs come from `scripts/pg_tls.sh start`
//! (`FERRY_TEST_TLS_CERT`, `FERRY_TEST_TLS_KEY`, `FERRY_TEST_TLS_CA`,
//! `FERRY_TEST_TLS_WRONG_CA`); missing files fail the test.
#![allow(clippy::unwrap_used)]

mod srv;

use std::process::Command;

use srv::*;

/// `ferry health` against `server` with extra args and environment.
fn health(server: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(FERRY)
        .arg("health")
        .args(["--server", server])
        .args(args)
        .env_remove("FERRY_CA_FILE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_server_answers_the_cli_only_with_the_ca() {
    let (cert, key) = tls_cert_and_key();
    let (ca, wrong) = (tls_ca(), tls_wrong_ca());
    let s = Server::start_with(
        Options {
            backend: &Backend::Sqlite,
            dir: scratch_dir().join(unique("tls_server")),
            node: "tls",
            lease_secs: 30.0,
            runners: 1,
            transcript: Transcript::default(),
        },
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    // The printed URLs say https.
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let document = format!("API document: {}/api/openapi.json", s.base);
    let text = s
        .transcript
        .text_with(&document, std::time::Duration::from_secs(10));
    assert!(text.contains(&document), "{text}");

    // The certificate names localhost and 127.0.0.1: both verify.
    let by_name = s.base.replace("127.0.0.1", "localhost");
    for base in [&s.base, &by_name] {
        let (code, out, err) = health(base, &["--ca-file", &ca], &[]);
        assert_eq!((code, out.as_str()), (0, "ok"), "{base}: {err}");
    }
    let (code, out, err) = health(&s.base, &[], &[("FERRY_CA_FILE", &ca)]);
    assert_eq!((code, out.as_str()), (0, "ok"), "FERRY_CA_FILE: {err}");

    // Without the CA, or with another one, the client refuses the server.
    for args in [vec![], vec!["--ca-file", wrong.as_str()]] {
        let (code, out, err) = health(&s.base, &args, &[]);
        assert_ne!(code, 0, "{args:?} answered {out}");
        assert!(err.contains("certificate"), "{args:?}: {err}");
        assert!(err.contains("UnknownIssuer"), "{args:?}: {err}");
    }
    // A CA file that is not there is named.
    let (code, _, err) = health(&s.base, &["--ca-file", "/nonexistent/ca.pem"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    // Plain HTTP to the HTTPS port gets no answer.
    let (code, _, err) = health(&s.base.replace("https://", "http://"), &[], &[]);
    assert_ne!(code, 0, "{err}");
}

#[test]
fn a_bad_key_pair_stops_the_server_before_it_serves() {
    let (cert, _) = tls_cert_and_key();
    let dir = scratch_dir().join(unique("tls_bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(FERRY)
        .args(["server", "--listen", "127.0.0.1:0", "--tls-cert", &cert])
        .args(["--tls-key", "/nonexistent/server.key"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--key-file")
        .arg(dir.join("secret.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-key /nonexistent/server.key"), "{err}");
    // --tls-cert alone is refused by the argument parser.
    let out = Command::new(FERRY)
        .args(["server", "--tls-cert", &cert])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

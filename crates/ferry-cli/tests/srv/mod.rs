//! A real `ferry server` process for the API tests: started on a free port
//! with a SQLite or PostgreSQL store, every stderr line and every response
//! body kept (the secret-leak checks grep them), and an HTTP client.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use ferry_testkit::*;

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// The bootstrap admin's token (`FERRY_ADMIN_TOKEN`).
pub const ADMIN: &str = "fry_test-admin-token-0123456789abcdefghijklmnopq";

/// Which store a server uses.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// A fresh store: a new SQLite file (per server dir) or a new PG database.
    pub async fn fresh(kind: &str) -> Backend {
        match kind {
            "sqlite" => Backend::Sqlite,
            _ => {
                let db = unique("ferry_store");
                let admin = pg_url_for("postgres");
                let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("CREATE DATABASE {db}"))
                    .await
                    .unwrap();
                Backend::Postgres(pg_url_for(&db))
            }
        }
    }
}

/// The machine's PostgreSQL URL with another database.
pub fn pg_url_for(db: &str) -> String {
    let base = pg_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{db}")
}

/// Everything a test saw: server output and response bodies.
#[derive(Default, Clone)]
pub struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    pub fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
    /// The text once it holds `needle`, or what it holds after `within`:
    /// the server prints its lines one at a time, so a test reading right
    /// after the first one may be early.
    #[allow(dead_code)]
    pub fn text_with(&self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let text = self.text();
            if text.contains(needle) || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub node: String,
    pub transcript: Transcript,
    pub http: reqwest::Client,
}

pub struct Options<'a> {
    pub backend: &'a Backend,
    pub dir: PathBuf,
    pub node: &'a str,
    pub lease_secs: f64,
    pub runners: usize,
    pub transcript: Transcript,
}

impl Server {
    pub fn start(o: Options<'_>) -> Server {
        Server::start_with(o, &[])
    }

    /// Starts a server with extra arguments.
    pub fn start_with(o: Options<'_>, extra: &[&str]) -> Server {
        std::fs::create_dir_all(&o.dir).unwrap();
        let data = o.dir.join("data");
        let key = o.dir.join("keys/secret.key");
        let mut cmd = Command::new(FERRY);
        cmd.arg("server")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--key-file")
            .arg(&key)
            .args(["--node-id", o.node])
            .args(["--lease-secs", &o.lease_secs.to_string()])
            .args(["--runners", &o.runners.to_string()])
            .arg("--files-root")
            .arg(std::env::temp_dir())
            .args(extra)
            .env("FERRY_ADMIN_TOKEN", ADMIN)
            .env("FERRY_LOG", "info,sqlx=warn")
            .env_remove("FERRY_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Backend::Postgres(url) = o.backend {
            cmd.args(["--store", url]);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = o.transcript.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Ferry is serving on ") {
                    let _ = tx.send(addr.to_string());
                }
                t.push(line);
            }
        });
        let t = o.transcript.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                t.push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start:\n{}", o.transcript.text()));
        Server {
            child,
            base,
            dir: o.dir,
            node: o.node.to_string(),
            transcript: o.transcript,
            http: reqwest::Client::new(),
        }
    }

    /// One server with defaults.
    pub fn simple(backend: &Backend, name: &str) -> Server {
        Server::start(Options {
            backend,
            dir: scratch_dir().join(unique(name)),
            node: name,
            lease_secs: 30.0,
            runners: 2,
            transcript: Transcript::default(),
        })
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.transcript.push(text.clone());
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Asserts the status, returns the body.
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (status, v) = self.call(method, path, Some(token), body).await;
        assert_eq!(status, want, "{method} {path}: {v}");
        v
    }

    /// Creates a user with a role and returns its token.
    pub async fn user(&self, name: &str, role: &str) -> String {
        self.ok(
            "POST",
            "/api/v1/users",
            ADMIN,
            Some(json!({"name": name, "role": role})),
            201,
        )
        .await;
        let t = self
            .ok(
                "POST",
                &format!("/api/v1/users/{name}/tokens"),
                ADMIN,
                Some(json!({"label": "test"})),
                201,
            )
            .await;
        t["token"].as_str().unwrap().to_string()
    }

    /// Polls an instance until it leaves queued/running.
    pub async fn wait_instance(&self, id: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self
                .ok("GET", &format!("/api/v1/instances/{id}"), ADMIN, None, 200)
                .await;
            let state = v["state"].as_str().unwrap().to_string();
            if state != "queued" && state != "running" {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "instance {id} still {state} after {timeout:?}: {v}\n{}",
                self.transcript.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls `GET /api/v1/tasks/{task}/engine` until `done` holds.
    pub async fn wait_engine(
        &self,
        token: &str,
        task: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, v) = self
                .get(&format!("/api/v1/tasks/{task}/engine"), token)
                .await;
            assert_eq!(status, 200, "{v}");
            if done(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "after {timeout:?} the engine sync has not {what}: {v}\n{}",
                self.transcript.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Submits a task's latest version as `author` and approves it as
    /// `approver`, keeping its schedule paused (the task stays `approved`
    /// until a `resume`, as the tests that drive the schedule expect);
    /// returns the approved task.
    pub async fn submit_and_approve(&self, task: &str, author: &str, approver: &str) -> Value {
        let path = format!("/api/v1/tasks/{task}");
        let submitted = self
            .ok(
                "POST",
                &format!("{path}/submit"),
                author,
                Some(json!({})),
                200,
            )
            .await;
        self.ok(
            "POST",
            &format!("{path}/approve"),
            approver,
            Some(json!({"revision": submitted["revision"], "keep_paused": true})),
            200,
        )
        .await
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A source view that yields a row every ~2 ms, so a run lasts seconds.
pub async fn make_slow_source(view: &str, rows: u32) {
    // Parallel tests replace the same function: PostgreSQL's catalog does
    // not serialize concurrent CREATE OR REPLACE, so an advisory lock does,
    // held until the commit (a session lock released before the batch's
    // implicit commit lets the next writer hit "tuple concurrently updated").
    pg_exec(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(7243); \
         CREATE OR REPLACE FUNCTION ferry_slow_row(i bigint) RETURNS bigint LANGUAGE sql VOLATILE AS \
         $$ SELECT pg_sleep(0.002); SELECT i $$; \
         DROP VIEW IF EXISTS {view}; \
         CREATE VIEW {view} AS SELECT ferry_slow_row(g) AS id, 'v' || g AS v FROM generate_series(1, {rows}) g; \
         COMMIT;"
    ))
    .await;
}

/// Creates a PostgreSQL → PostgreSQL task over the connection `pg`, submits
/// it as the admin and has a new approver approve it.
pub async fn approved_pg_task(s: &Server, name: &str, source: &str, target: &str, schedule: Value) {
    let approver = s.user(&format!("ap_{name}"), "approver").await;
    let spec = json!({
        "name": name,
        "source": {"type": "postgres", "connection": "pg", "table": source},
        "sink": {"type": "postgres", "connection": "pg", "table": target}
    });
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": spec, "schedule": schedule})),
        201,
    )
    .await;
    s.submit_and_approve(name, ADMIN, &approver).await;
}

//! A typed client of the REST API (what the `ferry` CLI uses): the same
//! response types the server serializes, errors as the server's problem
//! details. Over `https://` the server's certificate is always verified
//! (built-in public roots, plus a private CA file if given).

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::error::Problem;
use crate::api::instances::{InstanceDetail, InstancePage, LogPage};
use crate::api::runs::BackfillResult;
use crate::api::tasks::TaskView;
use crate::api::views::InstanceView as Instance;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem.
    #[error("{} {}: {}", .0.status, .0.title, .0.detail)]
    Api(Problem),
    /// The server could not be reached or answered nonsense.
    #[error("{0}")]
    Transport(String),
}

/// Result of a call.
pub type ClientResult<T> = Result<T, ClientError>;

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: url::Url,
    token: Option<String>,
    http: reqwest::Client,
}

/// Which instances to list.
#[derive(Debug, Clone, Default)]
pub struct InstanceListQuery {
    /// Task id or name.
    pub task: Option<String>,
    /// State word.
    pub state: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8090`).
    pub fn new(base: &str, token: Option<String>) -> ClientResult<Client> {
        Self::with_ca_file(base, token, None)
    }

    /// A client that also trusts the CA certificates in `ca_file` (PEM) for
    /// an `https://` server with a private CA (`--ca-file`).
    pub fn with_ca_file(
        base: &str,
        token: Option<String>,
        ca_file: Option<&Path>,
    ) -> ClientResult<Client> {
        let base = url::Url::parse(base)
            .map_err(|e| ClientError::Transport(format!("server URL {base:?}: {e}")))?;
        let http = ferry_scheduler::http::client(Duration::from_secs(60), ca_file, "--ca-file")
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Client { base, token, http })
    }

    /// `GET /healthz`: the server's liveness answer (`ok`).
    pub async fn health(&self) -> ClientResult<String> {
        let health: Value = self
            .call(reqwest::Method::GET, "/healthz", &[], None)
            .await?;
        Ok(health
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    fn url(&self, path: &str) -> ClientResult<url::Url> {
        self.base
            .join(path)
            .map_err(|e| ClientError::Transport(format!("{path}: {e}")))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> ClientResult<T> {
        let mut req = self.http.request(method, self.url(path)?).query(query);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("{}: {}", self.base, with_causes(&e))))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => ClientError::Api(p),
                Err(_) => ClientError::Transport(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                )),
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Transport(format!("unexpected response to {path}: {e}")))
    }

    /// Creates a task from a spec (and schedule).
    pub async fn create_task(
        &self,
        spec: Value,
        schedule: Option<Value>,
    ) -> ClientResult<TaskView> {
        let body = json!({ "spec": spec, "schedule": schedule });
        self.call(reqwest::Method::POST, "/api/v1/tasks", &[], Some(body))
            .await
    }

    /// Replaces a task's spec (a new version).
    pub async fn update_task(
        &self,
        task: &str,
        spec: Value,
        schedule: Option<Value>,
        revision: i64,
    ) -> ClientResult<TaskView> {
        let body = json!({ "spec": spec, "schedule": schedule, "revision": revision });
        self.call(reqwest::Method::PUT, &task_path(task, ""), &[], Some(body))
            .await
    }

    /// One task.
    pub async fn task(&self, task: &str) -> ClientResult<TaskView> {
        self.call(reqwest::Method::GET, &task_path(task, ""), &[], None)
            .await
    }

    /// Submits, approves, rejects, pauses or resumes a task. `revision` is
    /// the task revision the caller read (required to approve or reject).
    pub async fn task_action(
        &self,
        task: &str,
        action: &str,
        revision: Option<i64>,
        comment: Option<&str>,
    ) -> ClientResult<TaskView> {
        let body = json!({ "revision": revision, "comment": comment });
        self.call(
            reqwest::Method::POST,
            &task_path(task, &format!("/{action}")),
            &[],
            Some(body),
        )
        .await
    }

    /// Approves the task's submitted version (read at `revision`); the
    /// approval starts its schedule unless `keep_paused`.
    pub async fn approve(
        &self,
        task: &str,
        revision: i64,
        comment: Option<&str>,
        keep_paused: bool,
    ) -> ClientResult<TaskView> {
        let body = json!({ "revision": revision, "comment": comment, "keep_paused": keep_paused });
        self.call(
            reqwest::Method::POST,
            &task_path(task, "/approve"),
            &[],
            Some(body),
        )
        .await
    }

    /// Starts an instance.
    pub async fn start(&self, task: &str, logical_time: Option<&str>) -> ClientResult<Instance> {
        let body = json!({ "logical_time": logical_time });
        self.call(
            reqwest::Method::POST,
            &task_path(task, "/instances"),
            &[],
            Some(body),
        )
        .await
    }

    /// Creates the instances of `[from, to]`.
    pub async fn backfill(&self, task: &str, from: &str, to: &str) -> ClientResult<BackfillResult> {
        let body = json!({ "from": from, "to": to });
        self.call(
            reqwest::Method::POST,
            &task_path(task, "/backfill"),
            &[],
            Some(body),
        )
        .await
    }

    /// Lists instances.
    pub async fn instances(&self, q: &InstanceListQuery) -> ClientResult<InstancePage> {
        let mut query = Vec::new();
        if let Some(t) = &q.task {
            query.push(("task", t.clone()));
        }
        if let Some(s) = &q.state {
            query.push(("state", s.clone()));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(o) = q.offset {
            query.push(("offset", o.to_string()));
        }
        self.call(reqwest::Method::GET, "/api/v1/instances", &query, None)
            .await
    }

    /// One instance with its attempts.
    pub async fn instance(&self, id: &str) -> ClientResult<InstanceDetail> {
        self.call(reqwest::Method::GET, &instance_path(id, ""), &[], None)
            .await
    }

    /// Reruns or stops an instance.
    pub async fn instance_action(&self, id: &str, action: &str) -> ClientResult<Instance> {
        self.call(
            reqwest::Method::POST,
            &instance_path(id, &format!("/{action}")),
            &[],
            None,
        )
        .await
    }

    /// A page of an attempt's log lines.
    pub async fn logs(
        &self,
        id: &str,
        attempt: Option<i64>,
        after: i64,
        limit: i64,
    ) -> ClientResult<LogPage> {
        let mut query = vec![("after", after.to_string()), ("limit", limit.to_string())];
        if let Some(a) = attempt {
            query.push(("attempt", a.to_string()));
        }
        self.call(
            reqwest::Method::GET,
            &instance_path(id, "/logs"),
            &query,
            None,
        )
        .await
    }
}

fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn task_path(task: &str, tail: &str) -> String {
    format!("/api/v1/tasks/{}{tail}", segment(task))
}

fn instance_path(id: &str, tail: &str) -> String {
    format!("/api/v1/instances/{}{tail}", segment(id))
}

/// `e` and its causes (reqwest's own message hides why a connection failed,
/// e.g. an untrusted certificate).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

//! The Apache Airflow 3 engine: a task's schedule becomes a DAG file
//! `ferry_<task>.py` in Airflow's dags folder; each DAG run asks Ferry for
//! the instance of its logical time (`POST /api/v1/tasks/{id}/instances`
//! with `logical_time = data_interval_end`, `run_key = run_id`) and follows
//! it until it ends. Pause, resume and removal go through Airflow's REST API
//! v2 with a JWT from `POST /auth/token`.
//!
//! Ferry's API token never goes into a DAG file: the DAG reads it at run time
//! from an Airflow Variable ([`AirflowConfig::ferry_token_variable`], default
//! `ferry_api_token`), which [`AirflowEngine::set_ferry_token`] sets. Airflow
//! masks variables whose key contains "token" in its UI, API and logs.
//!
//! The schedule translation is in [`schedule`]; the DAG text in [`dag`].

pub mod dag;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use ferry_core::{Error, Result};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::engine::{EngineStatus, ScheduleEngine, ScheduledTask};
use dag::{DagFile, dag_id};
use schedule::AirflowSchedule;

/// The Variable key the DAGs read Ferry's token from, unless configured.
pub const DEFAULT_TOKEN_VARIABLE: &str = "ferry_api_token";

/// How long `register` waits for Airflow to parse a new or changed DAG file.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(120);

/// Where Airflow is and how Airflow reaches Ferry.
#[derive(Clone, serde::Deserialize)]
pub struct AirflowConfig {
    /// Airflow's base URL, e.g. `http://127.0.0.1:18080` (the API is under `/api/v2`).
    pub api_url: String,
    /// An Airflow user allowed to edit DAGs and variables.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Airflow's dags folder (`[core] dags_folder`), shared with this process.
    pub dags_folder: PathBuf,
    /// Ferry's base URL as Airflow's workers reach it.
    pub ferry_url: String,
    /// The Airflow Variable holding Ferry's API token.
    #[serde(default = "default_token_variable")]
    pub ferry_token_variable: String,
    /// A PEM file of CA certificates trusted for Airflow's HTTPS, besides
    /// the built-in public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_token_variable() -> String {
    DEFAULT_TOKEN_VARIABLE.to_string()
}

impl std::fmt::Debug for AirflowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirflowConfig")
            .field("api_url", &self.api_url)
            .field("user", &self.user)
            .field("password", &"***")
            .field("dags_folder", &self.dags_folder)
            .field("ferry_url", &self.ferry_url)
            .field("ferry_token_variable", &self.ferry_token_variable)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The Airflow engine.
pub struct AirflowEngine {
    config: AirflowConfig,
    http: reqwest::Client,
    /// The current JWT, fetched on first use and again after a 401.
    jwt: Mutex<Option<String>>,
    register_timeout: Duration,
}

impl std::fmt::Debug for AirflowEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirflowEngine")
            .field("config", &self.config)
            .field("register_timeout", &self.register_timeout)
            .finish_non_exhaustive()
    }
}

/// One answer from Airflow.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl AirflowEngine {
    /// An engine for one Airflow.
    pub fn new(mut config: AirflowConfig) -> Result<AirflowEngine> {
        config.api_url = config.api_url.trim_end_matches('/').to_string();
        config.ferry_url = config.ferry_url.trim_end_matches('/').to_string();
        if config.ferry_token_variable.is_empty() {
            config.ferry_token_variable = default_token_variable();
        }
        let http = crate::http::client(
            Duration::from_secs(60),
            config.ca_file.as_deref(),
            "--engine-ca-file",
        )?;
        Ok(AirflowEngine {
            config,
            http,
            jwt: Mutex::new(None),
            register_timeout: REGISTER_TIMEOUT,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AirflowConfig {
        &self.config
    }

    /// Waits this long (instead of [`REGISTER_TIMEOUT`]) for Airflow to
    /// parse a DAG file.
    pub fn with_register_timeout(mut self, timeout: Duration) -> AirflowEngine {
        self.register_timeout = timeout;
        self
    }

    /// The DAG file of a task.
    pub fn dag_file(&self, task: &str) -> Result<PathBuf> {
        Ok(self
            .config
            .dags_folder
            .join(format!("{}.py", dag_id(task)?)))
    }

    /// Creates or updates the Airflow Variable the DAGs read Ferry's API
    /// token from. The token appears in no error or log.
    pub async fn set_ferry_token(&self, token: &str) -> Result<()> {
        let key = &self.config.ferry_token_variable;
        let path = format!("/api/v2/variables/{}", enc(key));
        let body = json!({
            "key": key,
            "value": token,
            "description": "Ferry API token for the ferry_* DAGs (written by Ferry)",
        });
        let what = format!("Airflow Variable `{key}`");
        let a = self
            .call(Method::PATCH, &path, Some(&body), &what, Some(token))
            .await?;
        let a = if a.status == StatusCode::NOT_FOUND {
            self.call(
                Method::POST,
                "/api/v2/variables",
                Some(&body),
                &what,
                Some(token),
            )
            .await?
        } else {
            a
        };
        self.expect(a, &[StatusCode::OK, StatusCode::CREATED], &what, "set")?;
        Ok(())
    }

    /// The DAG as Airflow reports it (`GET /api/v2/dags/{id}`), `None` when
    /// Airflow does not know it.
    pub async fn dag(&self, task: &str) -> Result<Option<Value>> {
        let id = dag_id(task)?;
        let what = format!("Airflow DAG `{id}`");
        let a = self
            .call(Method::GET, &dag_path(&id), None, &what, None)
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(self.expect(a, &[StatusCode::OK], &what, "read")?))
    }

    async fn set_paused(&self, task: &str, paused: bool) -> Result<()> {
        let id = dag_id(task)?;
        let what = format!("Airflow DAG `{id}`");
        let a = self
            .call(
                Method::PATCH,
                &dag_path(&id),
                Some(&json!({"is_paused": paused})),
                &what,
                None,
            )
            .await?;
        if a.status == StatusCode::NOT_FOUND {
            return Err(Error::not_found("Airflow DAG", id));
        }
        let verb = if paused { "pause" } else { "unpause" };
        self.expect(a, &[StatusCode::OK], &what, verb)?;
        Ok(())
    }

    /// Writes the file unless it already holds `text`; true when written.
    fn write_dag_file(&self, path: &Path, text: &str) -> Result<bool> {
        let io = |e: std::io::Error, what: &str| {
            Error::server(
                format!("Airflow DAG file {}", path.display()),
                format!("{what}: {e}"),
            )
        };
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.config.dags_folder)
            .map_err(|e| io(e, "create the dags folder"))?;
        // Not `.py`: the dag processor ignores the temporary file.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io(e, "write"))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e, "rename into place")
        })?;
        Ok(true)
    }

    /// Waits until Airflow has parsed the DAG (from a file written at
    /// `written`, if given); import errors of the file end the wait early.
    async fn wait_for_dag(
        &self,
        task: &str,
        file: &Path,
        written: Option<chrono::DateTime<Utc>>,
    ) -> Result<Value> {
        let id = dag_id(task)?;
        let started = Instant::now();
        loop {
            if let Some(d) = self.dag(task).await? {
                let parsed = d["last_parsed_time"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                let fresh = match (written, parsed) {
                    (None, _) => true,
                    (Some(w), Some(p)) => p >= w,
                    (Some(_), None) => false,
                };
                if fresh && d["is_stale"] != json!(true) {
                    return Ok(d);
                }
            }
            if let Some(e) = self.import_error(file, written).await? {
                return Err(Error::invalid(
                    "airflow",
                    format!("Airflow DAG `{id}` does not import: {e}"),
                ));
            }
            if started.elapsed() > self.register_timeout {
                return Err(Error::Server {
                    context: format!("Airflow DAG `{id}`"),
                    message: format!(
                        "not parsed by Airflow within {} s; is the dag processor running and is {} its dags folder?",
                        self.register_timeout.as_secs(),
                        self.config.dags_folder.display()
                    ),
                    transient: true,
                });
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Airflow's import error for a DAG file, if any (recorded after
    /// `since`, when given: older ones are about an earlier text).
    async fn import_error(
        &self,
        file: &Path,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<Option<String>> {
        let a = self
            .call(
                Method::GET,
                "/api/v2/importErrors?limit=100",
                None,
                "Airflow import errors",
                None,
            )
            .await?;
        if a.status != StatusCode::OK {
            return Ok(None);
        }
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let errors = a.body["import_errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(errors.iter().find_map(|e| {
            let f = e["filename"].as_str()?;
            let same = Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                == name;
            let recent = match (since, e["timestamp"].as_str()) {
                (None, _) => true,
                (Some(s), Some(t)) => chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| t >= s),
                (Some(_), None) => false,
            };
            (same && recent).then(|| clip(e["stack_trace"].as_str().unwrap_or("?"), 2000))
        }))
    }

    /// A JWT, from the cache or `POST /auth/token`.
    async fn token(&self, refresh: bool) -> Result<String> {
        if !refresh && let Some(t) = self.jwt.lock().map_err(poisoned)?.clone() {
            return Ok(t);
        }
        let url = format!("{}/auth/token", self.config.api_url);
        let resp = self
            .http
            .post(&url)
            .json(&json!({"username": self.config.user, "password": self.config.password}))
            .send()
            .await
            .map_err(|e| self.unreachable("log in", &e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let text = scrub(&text, &self.config.password);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Auth {
                endpoint: url,
                message: format!(
                    "Airflow rejected user `{}`: {}",
                    self.config.user,
                    detail(&text)
                ),
            });
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let Some(t) = body["access_token"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            return Err(Error::Server {
                context: format!("Airflow login at {url}"),
                message: format!("HTTP {status}: {}", detail(&text)),
                transient: status.is_server_error(),
            });
        };
        *self.jwt.lock().map_err(poisoned)? = Some(t.to_string());
        Ok(t.to_string())
    }

    /// One API call, logging in again once when the JWT expired. `secret`
    /// is scrubbed from any text kept from the answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
        secret: Option<&str>,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.config.api_url);
        let mut refresh = false;
        loop {
            let jwt = self.token(refresh).await?;
            let mut req = self.http.request(method.clone(), &url).bearer_auth(jwt);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| self.unreachable(&format!("{what}: {method} {path}"), &e))?;
            let status = resp.status();
            let mut text = resp.text().await.unwrap_or_default();
            if let Some(s) = secret {
                text = scrub(&text, s);
            }
            // Expired: 401; signed with another secret (Airflow restarted): 403 "Invalid JWT token".
            let stale_jwt = status == StatusCode::UNAUTHORIZED
                || (status == StatusCode::FORBIDDEN && text.contains("Invalid JWT"));
            if stale_jwt && !refresh {
                refresh = true;
                continue;
            }
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return Ok(Answer { status, body });
        }
    }

    /// The body of an answer with one of the `ok` statuses, else an error
    /// naming the object and Airflow's response.
    fn expect(&self, a: Answer, ok: &[StatusCode], what: &str, verb: &str) -> Result<Value> {
        if ok.contains(&a.status) {
            return Ok(a.body);
        }
        let message = format!(
            "Airflow could not {verb} it: HTTP {}: {}",
            a.status,
            detail(&a.body.to_string())
        );
        Err(match a.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Auth {
                endpoint: format!("{} ({what})", self.config.api_url),
                message,
            },
            StatusCode::CONFLICT => Error::conflict(format!("{what}: {message}")),
            s => Error::Server {
                context: what.to_string(),
                message,
                transient: s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS,
            },
        })
    }

    fn unreachable(&self, what: &str, e: &reqwest::Error) -> Error {
        Error::Transient {
            endpoint: self.config.api_url.clone(),
            message: format!("{what}: Airflow unreachable: {e}"),
        }
    }
}

#[async_trait]
impl ScheduleEngine for AirflowEngine {
    fn name(&self) -> &'static str {
        "airflow"
    }

    async fn register(&self, task: &ScheduledTask) -> Result<()> {
        let schedule = AirflowSchedule::translate(&task.schedule, Utc::now())?;
        let text = DagFile {
            task_id: &task.task_id,
            name: &task.name,
            ferry_url: &self.config.ferry_url,
            token_variable: &self.config.ferry_token_variable,
            schedule: &schedule,
        }
        .render()?;
        let file = self.dag_file(&task.name)?;
        // Airflow's parse times have microseconds; file times may be coarser.
        let before = Utc::now() - chrono::Duration::seconds(1);
        let written = self.write_dag_file(&file, &text)?;
        self.wait_for_dag(&task.name, &file, written.then_some(before))
            .await?;
        self.set_paused(&task.name, !task.active).await
    }

    async fn unregister(&self, task: &str) -> Result<()> {
        let file = self.dag_file(task)?;
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::server(
                    format!("Airflow DAG file {}", file.display()),
                    format!("remove: {e}"),
                ));
            }
        }
        let id = dag_id(task)?;
        let what = format!("Airflow DAG `{id}`");
        // A parse that read the file just before it went can bring the DAG
        // back once; delete until it stays gone.
        for round in 0..3 {
            let a = self
                .call(Method::DELETE, &dag_path(&id), None, &what, None)
                .await?;
            if a.status != StatusCode::NOT_FOUND {
                self.expect(
                    a,
                    &[StatusCode::NO_CONTENT, StatusCode::OK],
                    &what,
                    "delete",
                )?;
            }
            if round < 2 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            if self.dag(task).await?.is_none() {
                return Ok(());
            }
        }
        Err(Error::server(
            what,
            "Airflow keeps the DAG after its file was removed and it was deleted three times",
        ))
    }

    async fn pause(&self, task: &str) -> Result<()> {
        self.set_paused(task, true).await
    }

    async fn resume(&self, task: &str) -> Result<()> {
        self.set_paused(task, false).await
    }

    async fn describe(&self, task: &str) -> Result<EngineStatus> {
        let id = dag_id(task)?;
        Ok(match self.dag(task).await? {
            Some(d) => EngineStatus {
                engine: "airflow".into(),
                registered: true,
                paused: d["is_paused"].as_bool().unwrap_or(false),
                reference: Some(format!("{}/dags/{id}", self.config.api_url)),
            },
            None => EngineStatus {
                engine: "airflow".into(),
                registered: false,
                paused: false,
                reference: None,
            },
        })
    }
}

fn dag_path(id: &str) -> String {
    format!("/api/v2/dags/{}", enc(id))
}

/// Percent-encodes a path segment (ids are `[A-Za-z0-9_.-]`; keys may be more).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Airflow's `detail` message when the body has one, else the body; short.
fn detail(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let d = match &v["detail"] {
        Value::String(s) => s.clone(),
        Value::Null => text.to_string(),
        other => other.to_string(),
    };
    clip(&d, 500)
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `text` without `secret` (nor its JSON-escaped form).
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let quoted = serde_json::Value::String(secret.to_string()).to_string();
    let escaped = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(secret);
    text.replace(secret, "***").replace(escaped, "***")
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::Internal("Airflow engine: a lock was poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(enc("ferry_a.b-c"), "ferry_a.b-c");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(
            detail(r#"{"detail":"Dag with id: x was not found"}"#),
            "Dag with id: x was not found"
        );
        assert_eq!(detail("plain"), "plain");
        assert_eq!(
            scrub("pw=s3\"cr\" and s3\\\"cr\\\"", "s3\"cr\""),
            "pw=*** and ***"
        );
        assert_eq!(clip("ééé", 3), "é…");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = AirflowConfig {
            api_url: "http://a/".into(),
            user: "admin".into(),
            password: "hunter2".into(),
            dags_folder: "/tmp/d".into(),
            ferry_url: "http://f/".into(),
            ferry_token_variable: String::new(),
            ca_file: None,
        };
        let e = AirflowEngine::new(c).expect("engine");
        let dbg = format!("{e:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(e.config().api_url, "http://a");
        assert_eq!(e.config().ferry_token_variable, DEFAULT_TOKEN_VARIABLE);
        assert_eq!(
            e.dag_file("orders").expect("file"),
            PathBuf::from("/tmp/d/ferry_orders.py")
        );
        assert!(e.dag_file("../x").is_err());
    }
}

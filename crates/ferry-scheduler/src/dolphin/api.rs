//! The DolphinScheduler REST calls the engine makes: form-encoded requests,
//! the `{"code":0,"msg":"success","data":…}` envelope, and errors that name
//! the operation and carry DS's `msg` with every secret blanked out.

use std::time::Duration;

use ferry_core::{Error, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A DS API client (base `{api_url}/dolphinscheduler`, header `token`).
pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Blanked out of every message DS sends back.
    secrets: Vec<String>,
}

/// A form or query: name, value.
pub(super) type Params<'a> = Vec<(&'a str, String)>;

impl Api {
    pub(super) fn new(
        api_url: &str,
        token: &str,
        secrets: Vec<String>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Api> {
        let http = crate::http::client(Duration::from_secs(30), ca_file, "--engine-ca-file")?;
        Ok(Api {
            http,
            base: format!("{}/dolphinscheduler", api_url.trim_end_matches('/')),
            token: token.to_string(),
            secrets,
        })
    }

    pub(super) async fn get(&self, op: &str, path: &str, query: Params<'_>) -> Result<Value> {
        self.call(op, Method::GET, path, query, None).await
    }

    pub(super) async fn post(&self, op: &str, path: &str, form: Params<'_>) -> Result<Value> {
        self.call(op, Method::POST, path, Vec::new(), Some(form))
            .await
    }

    pub(super) async fn put(&self, op: &str, path: &str, form: Params<'_>) -> Result<Value> {
        self.call(op, Method::PUT, path, Vec::new(), Some(form))
            .await
    }

    pub(super) async fn delete(&self, op: &str, path: &str) -> Result<Value> {
        self.call(op, Method::DELETE, path, Vec::new(), None).await
    }

    /// One request; `data` of a `code: 0` answer, else an error naming `op`.
    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        query: Params<'_>,
        form: Option<Params<'_>>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .header("token", &self.token)
            .header("Accept", "application/json");
        if !query.is_empty() {
            req = req.query(&query);
        }
        if let Some(form) = form {
            req = req.form(&form);
        }
        let context = format!("DolphinScheduler: {op}");
        let resp = req.send().await.map_err(|e| Error::Transient {
            endpoint: self.base.clone(),
            message: format!("{op}: {}", self.redact(&e.to_string())),
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Error::Transient {
            endpoint: self.base.clone(),
            message: format!("{op}: reading the answer: {}", self.redact(&e.to_string())),
        })?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let msg = body
            .as_ref()
            .and_then(|b| b.get("msg"))
            .and_then(Value::as_str)
            .map(|m| self.redact(m));
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Auth {
                endpoint: self.base.clone(),
                message: format!(
                    "{op}: HTTP {status}: {}",
                    msg.as_deref().unwrap_or("the access token was refused")
                ),
            });
        }
        let Some(body) = body else {
            return Err(Error::Server {
                context,
                message: format!("HTTP {status}, not a DolphinScheduler API answer"),
                transient: status.is_server_error(),
            });
        };
        let code = body.get("code").and_then(Value::as_i64);
        match code {
            Some(0) => Ok(body.get("data").cloned().unwrap_or(Value::Null)),
            Some(code) => Err(Error::Server {
                context,
                message: format!("{} (DS code {code})", msg.as_deref().unwrap_or("no msg")),
                transient: false,
            }),
            None => Err(Error::Server {
                context,
                message: format!(
                    "HTTP {status}: {}",
                    msg.as_deref()
                        .unwrap_or("the answer has no code (is api_url DolphinScheduler's API?)")
                ),
                transient: status.is_server_error(),
            }),
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in std::iter::once(&self.token).chain(&self.secrets) {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// `data.totalList` of a DS page.
pub(super) fn total_list(data: &Value) -> &[Value] {
    data.get("totalList")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `data.totalPage` of a DS page (1 when absent).
pub(super) fn total_pages(data: &Value) -> i64 {
    data.get("totalPage").and_then(Value::as_i64).unwrap_or(1)
}

/// A DS code (`code` or `id`), as a number or a numeric string.
pub(super) fn int_field(v: &Value, field: &str) -> Option<i64> {
    match v.get(field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A DS string field.
pub(super) fn str_field<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

//! Secrets written inline in a task's endpoints (a password in a URL), as
//! the server keeps them: taken out of the spec before it is stored, sealed
//! apart, shown as `***`, and put back in memory for validation and runs.
//!
//! The secrets of a task are a JSON object by endpoint field:
//! `{"source": {"password": "…"}, "dirty.sink.target": {…}}`. Each
//! connector says which of its options are secrets
//! ([`Connector::take_endpoint_secrets`](crate::Connector::take_endpoint_secrets)).

use ferry_core::spec::{EndpointSpec, REDACTED, TaskSpec};
use ferry_core::{Error, Result};
use serde_json::{Map, Value};

use crate::registry::find;
use crate::resolve::endpoints_mut;

/// Takes every endpoint's inline secrets out of `spec`.
pub fn take_task_secrets(spec: &mut TaskSpec) -> Result<Map<String, Value>> {
    let mut all = Map::new();
    for (field, endpoint) in endpoints_mut(spec) {
        let Ok(connector) = find(field, &endpoint.connector) else {
            continue; // validation names the unknown type
        };
        let secrets = connector
            .take_endpoint_secrets(&mut endpoint.options)
            .map_err(|e| match e {
                Error::InvalidConfig { field: f, message } => {
                    Error::invalid(format!("{field}.{f}"), message)
                }
                other => other,
            })?;
        if !secrets.is_empty() {
            all.insert(field.to_string(), Value::Object(secrets));
        }
    }
    Ok(all)
}

/// Puts `secrets` (as taken by [`take_task_secrets`]) back into `spec`.
pub fn put_task_secrets(spec: &mut TaskSpec, secrets: &Map<String, Value>) -> Result<()> {
    for (field, endpoint) in endpoints_mut(spec) {
        if let Some(Value::Object(s)) = secrets.get(field) {
            find(field, &endpoint.connector)?.put_endpoint_secrets(&mut endpoint.options, s)?;
        }
    }
    Ok(())
}

/// `secrets` with every value replaced by `***`, for views.
pub fn redacted_secrets(secrets: &Map<String, Value>) -> Map<String, Value> {
    secrets
        .iter()
        .map(|(field, s)| {
            let s = match s {
                Value::Object(m) => Value::Object(
                    m.keys()
                        .map(|k| (k.clone(), Value::String(REDACTED.into())))
                        .collect(),
                ),
                other => other.clone(),
            };
            (field.clone(), s)
        })
        .collect()
}

/// Replaces the `***` of `new` (a client sending back what it read) by the
/// secret stored for the same endpoint in `stored`. A `***` with nothing
/// stored, or whose endpoint now points elsewhere than the stored one
/// ([`Connector::secret_audience`](crate::Connector::secret_audience):
/// another host, user, database…), is an error naming the field: the
/// client must send the secret itself, so an edit cannot redirect a stored
/// password to a server of its choice.
pub fn keep_stored_secrets(
    new_spec: &TaskSpec,
    new: &mut Map<String, Value>,
    stored_spec: Option<&TaskSpec>,
    stored: &Map<String, Value>,
) -> Result<()> {
    let mut new_spec = new_spec.clone();
    let mut stored_spec = stored_spec.cloned();
    let new_endpoints: Vec<(&'static str, EndpointSpec)> = endpoints_mut(&mut new_spec)
        .into_iter()
        .map(|(f, e)| (f, e.clone()))
        .collect();
    let stored_endpoints: Vec<(&'static str, EndpointSpec)> = stored_spec
        .as_mut()
        .map(|s| {
            endpoints_mut(s)
                .into_iter()
                .map(|(f, e)| (f, e.clone()))
                .collect()
        })
        .unwrap_or_default();
    let endpoint = |all: &[(&'static str, EndpointSpec)], field: &str| {
        all.iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.clone())
    };
    for (field, secrets) in new.iter_mut() {
        let Value::Object(secrets) = secrets else {
            continue;
        };
        for (key, value) in secrets.iter_mut() {
            if value.as_str() != Some(REDACTED) {
                continue;
            }
            let again = |why: &str| {
                Error::invalid(
                    format!("{field}.{key}"),
                    format!("is `***` but {why}; send the secret itself"),
                )
            };
            let Some(kept) = stored.get(field).and_then(|s| s.get(key)) else {
                return Err(again("no secret is stored for it"));
            };
            let (Some(now), Some(before)) = (
                endpoint(&new_endpoints, field),
                endpoint(&stored_endpoints, field),
            ) else {
                return Err(again("the stored version has no such endpoint"));
            };
            let connector = find(field, &now.connector)?;
            if find(field, &before.connector)?.name() != connector.name()
                || connector.secret_audience(&now.options)
                    != connector.secret_audience(&before.options)
            {
                return Err(again(
                    "the endpoint now points elsewhere than the one the secret was given for",
                ));
            }
            *value = kept.clone();
        }
    }
    Ok(())
}

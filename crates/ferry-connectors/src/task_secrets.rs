//! Secrets written inline in a task's endpoints (a password in a URL), as
//! the server keeps them: taken out of the spec before it is stored, sealed
//! apart, shown as `***`, and put back in memory for validation and runs.
//!
//! The secrets of a task are a JSON object by endpoint field:
//! `{"source": {"password": "…"}, "dirty.sink.target": {…}}`. Each
//! connector says which of its options are secrets
//! ([`Connector::take_endpoint_secrets`](crate::Connector::take_endpoint_secrets)).

use ferry_core::spec::{REDACTED, TaskSpec};
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
        let secrets = connector.take_endpoint_secrets(&mut endpoint.options)?;
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
/// secret stored for the same endpoint in `stored`; a `***` with nothing
/// stored is an error naming the field.
pub fn keep_stored_secrets(
    new: &mut Map<String, Value>,
    stored: &Map<String, Value>,
) -> Result<()> {
    for (field, secrets) in new.iter_mut() {
        let Value::Object(secrets) = secrets else {
            continue;
        };
        for (key, value) in secrets.iter_mut() {
            if value.as_str() != Some(REDACTED) {
                continue;
            }
            match stored.get(field).and_then(|s| s.get(key)) {
                Some(kept) => *value = kept.clone(),
                None => {
                    return Err(Error::invalid(
                        format!("{field}.{key}"),
                        "is `***` but no secret is stored for it; send the secret itself",
                    ));
                }
            }
        }
    }
    Ok(())
}

//! Named connections: settings parsed by their connector, secrets sealed
//! apart (a JSON object of the connector's secret fields) and opened only
//! in memory, the settings a client may see (secrets as `***`), and the
//! connections a task names, looked up for validation or a run.

use std::collections::{BTreeMap, HashMap};

use ferry_connectors::{Connection, connection_names, open_connection};
use ferry_core::spec::{ConnectionSpec, REDACTED, TaskSpec, Trust};
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::control::ConnectionRecord;
use serde_json::{Map, Value};

use super::to_json;
use crate::app::AppState;

/// A connection parsed by its connector, with its secrets.
pub struct Parsed {
    /// The settings with secrets, under the connector's own name.
    pub spec: ConnectionSpec,
    /// The connection its connector made of them.
    pub connection: Box<dyn Connection>,
}

impl Parsed {
    /// Parses `settings` as a `connector` connection, as the server's
    /// trust allows (paths under `--files-root`).
    pub fn new(state: &AppState, connector: &str, settings: Map<String, Value>) -> Result<Parsed> {
        let spec = ConnectionSpec {
            connector: connector.to_string(),
            options: settings,
        };
        let connection = open_connection(&spec, &state.config.trust())?;
        let name = ferry_connectors::find("type", connector)?.name();
        Ok(Parsed {
            spec: ConnectionSpec {
                connector: name.to_string(),
                options: connection.options()?,
            },
            connection,
        })
    }
}

/// Stored form: the settings without their secrets (JSON), and the secrets
/// sealed (a JSON object of field → value).
pub fn seal(state: &AppState, p: &Parsed) -> Result<(String, Option<String>)> {
    let mut bare = p.spec.clone();
    let mut secrets = BTreeMap::new();
    for field in p.connection.secret_fields() {
        if let Some(v) = bare.options.remove(*field)
            && !v.is_null()
        {
            secrets.insert(field.to_string(), v);
        }
    }
    let json = to_json(&bare)?;
    let secret = if secrets.is_empty() {
        None
    } else {
        let text = to_json(&secrets)?;
        Some(state.secrets.seal(&text)?)
    };
    Ok((json, secret))
}

/// The stored connection with its secrets opened (server side only).
pub fn open(state: &AppState, r: &ConnectionRecord) -> Result<ConnectionSpec> {
    let mut spec = stored_spec(r)?;
    if let Some(sealed) = &r.secret {
        let plain = state.secrets.open(sealed, r.key_id.as_deref())?;
        for (k, v) in unseal(&spec, &plain)? {
            spec.options.insert(k, v);
        }
    }
    Ok(spec)
}

/// The stored settings, without secrets.
pub fn stored_spec(r: &ConnectionRecord) -> Result<ConnectionSpec> {
    serde_json::from_str(&r.spec)
        .map_err(|e| Error::Internal(format!("stored connection `{}`: {e}", r.name)))
}

/// The secrets of a sealed text: a JSON object of the connector's secret
/// fields, or (connections stored before secrets were objects) the bare
/// value of its first secret field.
fn unseal(spec: &ConnectionSpec, plain: &str) -> Result<Map<String, Value>> {
    let fields = open_connection(spec, &ferry_core::spec::Trust::Local)
        .map(|c| c.secret_fields())
        .unwrap_or(&[]);
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(plain)
        && !m.is_empty()
        && m.iter()
            .all(|(k, v)| v.is_string() && fields.contains(&k.as_str()))
    {
        return Ok(m);
    }
    match fields.first() {
        Some(f) => Ok(Map::from_iter([(
            f.to_string(),
            Value::String(plain.to_string()),
        )])),
        None => Err(Error::Internal(format!(
            "a {} connection has a stored secret but no secret field",
            spec.connector
        ))),
    }
}

/// The stored settings as a client may see them: secrets as `***`.
pub fn shown_settings(state: &AppState, r: &ConnectionRecord) -> Result<Map<String, Value>> {
    let spec = stored_spec(r)?;
    let mut settings = spec.options.clone();
    if let Some(sealed) = &r.secret {
        let plain = state.secrets.open(sealed, r.key_id.as_deref())?;
        for k in unseal(&spec, &plain)?.keys() {
            settings.insert(k.clone(), Value::String(REDACTED.to_string()));
        }
    }
    Ok(settings)
}

/// The settings of an update: a secret left out or sent as `***` keeps the
/// stored one — only while the connection still points where it did (its
/// secret audience: the same server and user), so an edit cannot send a
/// stored password to another server; `""` removes it.
pub fn merge_update(
    stored: &ConnectionSpec,
    mut settings: Map<String, Value>,
) -> Result<Map<String, Value>> {
    let secret_fields = open_connection(stored, &Trust::Local)?.secret_fields();
    let connector = ferry_connectors::find("type", &stored.connector)?;
    let same_audience =
        connector.secret_audience(&settings) == connector.secret_audience(&stored.options);
    for field in secret_fields {
        let keep = match settings.get(*field) {
            None | Some(Value::Null) => true,
            Some(Value::String(v)) => v == REDACTED,
            Some(_) => false,
        };
        let remove = settings.get(*field).and_then(Value::as_str) == Some("");
        if keep || remove {
            settings.remove(*field);
        }
        if keep && let Some(kept) = stored.options.get(*field) {
            if !same_audience {
                return Err(Error::invalid(
                    *field,
                    "the connection now points at another server, user or database than \
                     the stored secret was given for; send the secret again",
                ));
            }
            settings.insert(field.to_string(), kept.clone());
        }
    }
    Ok(settings)
}

/// The stored connection `id`, opened and parsed as the server's trust
/// allows (for a test or a listing).
pub async fn connect(state: &AppState, id: &str) -> Result<Box<dyn Connection>> {
    let spec = open(state, &state.store.connection(id).await?)?;
    open_connection(&spec, &state.config.trust())
}

/// The connections a spec names; `with_secrets` for a run, else without
/// them (for validation).
pub async fn lookup(
    s: &AppState,
    spec: &TaskSpec,
    with_secrets: bool,
) -> Result<HashMap<String, ConnectionSpec>> {
    let mut lookup = HashMap::new();
    for name in connection_names(spec) {
        match s.store.connection(&name).await {
            Ok(r) if r.name == name => {
                let spec = if with_secrets {
                    open(s, &r)?
                } else {
                    stored_spec(&r)?
                };
                lookup.insert(name, spec);
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(lookup)
}

/// Names of live tasks whose latest or approved version names `connection`.
pub async fn users_of(s: &AppState, connection: &str) -> Result<Vec<String>> {
    let mut users = Vec::new();
    for t in s.store.tasks(None).await? {
        let mut versions = vec![t.latest_version];
        versions.extend(t.approved_version);
        for v in versions {
            let version = s.store.task_version(&t.id, v).await?;
            if let Ok(spec) = serde_json::from_str::<TaskSpec>(&version.spec)
                && connection_names(&spec).iter().any(|n| n == connection)
                && !users.contains(&t.name)
            {
                users.push(t.name.clone());
            }
        }
    }
    Ok(users)
}

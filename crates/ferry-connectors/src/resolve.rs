//! `connection: NAME` in an endpoint, replaced by what the named connection
//! puts there ([`Connection::endpoint_options`]): the server resolves a
//! task's endpoints in memory right before validating or running it, so a
//! stored task never holds a secret and one credential change reaches every
//! task using it. Job files run by `ferry run` give `url`/`path` directly.

use std::collections::HashMap;

use ferry_core::spec::{
    CONNECTION_OPTION, ConnectionSpec, DirtySinkSpec, EndpointSpec, TaskSpec, Trust,
};
use ferry_core::{Error, Result};

use crate::connector::Connection;
use crate::registry::find;

/// Parses a connection's settings with its connector.
pub fn open_connection(spec: &ConnectionSpec, trust: &Trust) -> Result<Box<dyn Connection>> {
    find("type", &spec.connector)?.connection(&spec.options, trust)
}

/// The task's endpoints, each with its field name: source, sink, and the
/// dirty table's target.
pub(crate) fn endpoints_mut(spec: &mut TaskSpec) -> Vec<(&'static str, &mut EndpointSpec)> {
    let mut all = vec![("source", &mut spec.source), ("sink", &mut spec.sink)];
    if let Some(DirtySinkSpec::Table { target }) = &mut spec.dirty.sink {
        all.push(("dirty.sink.target", target));
    }
    all
}

/// The connections a task's endpoints name, each once, in order.
pub fn connection_names(spec: &TaskSpec) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut spec = spec.clone();
    for (_, e) in endpoints_mut(&mut spec) {
        if let Some(n) = e.connection_name()
            && !names.iter().any(|m| m == n)
        {
            names.push(n.to_string());
        }
    }
    names
}

/// Resolves every `connection: NAME` of the task from `connections` (their
/// secrets opened). Errors name the field: an unknown connection, one of
/// another connector than the endpoint, or an option set both ways.
pub fn resolve_task(
    spec: &mut TaskSpec,
    connections: &HashMap<String, ConnectionSpec>,
    trust: &Trust,
) -> Result<()> {
    for (field, endpoint) in endpoints_mut(spec) {
        resolve_endpoint(field, endpoint, connections, trust)?;
    }
    Ok(())
}

/// Resolves `connection: NAME` in one endpoint.
pub fn resolve_endpoint(
    field: &str,
    endpoint: &mut EndpointSpec,
    connections: &HashMap<String, ConnectionSpec>,
    trust: &Trust,
) -> Result<()> {
    let Some(name) = endpoint.connection_name().map(str::to_string) else {
        return Ok(());
    };
    let at = format!("{field}.{CONNECTION_OPTION}");
    let conn = connections
        .get(&name)
        .ok_or_else(|| Error::invalid(&at, format!("no connection named `{name}`")))?;
    let wanted = find(field, &endpoint.connector)?.name();
    let has = find(&at, &conn.connector)?.name();
    if wanted != has {
        return Err(Error::invalid(
            &at,
            format!("connection `{name}` is a {has} connection, but the {field} is {wanted}"),
        ));
    }
    let options = open_connection(conn, trust)
        .and_then(|c| c.endpoint_options())
        .map_err(|e| match e {
            Error::InvalidConfig { message, .. } => {
                Error::invalid(&at, format!("connection `{name}`: {message}"))
            }
            other => other,
        })?;
    endpoint.options.remove(CONNECTION_OPTION);
    for (key, value) in options {
        if endpoint.options.contains_key(&key) {
            return Err(Error::invalid(
                format!("{field}.{key}"),
                format!("set either `{key}` or `connection`, not both"),
            ));
        }
        endpoint.options.insert(key, value);
    }
    Ok(())
}

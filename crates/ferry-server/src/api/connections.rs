//! Connections: create, read (password shown as `***`), update (optimistic
//! concurrency), delete (refused while a task names it), test, and list the
//! tables a connection reaches.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_connectors::catalog;
use ferry_core::spec::{ConnectionSpec, FileConnection, REDACTED, ServerConnection};
use ferry_store::control::ConnectionRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path, Query};
use super::users::check_name;
use crate::auth::{Operator, Reader};

/// The connector of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// A SQLite file.
    Sqlite,
}

/// A connection as sent by a client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// Unique name tasks refer to (`connection: <name>`).
    pub name: String,
    /// The connector.
    #[serde(rename = "type")]
    pub connector: ConnectorType,
    /// Server URL (postgres, mysql), e.g. `postgresql://app@db:5432/sales`. A
    /// password in it is moved to `password`.
    #[serde(default)]
    pub url: Option<String>,
    /// Password (write-only). On update: omit it or send `***` to keep the
    /// stored one, `""` to remove it.
    #[serde(default)]
    pub password: Option<String>,
    /// File path (sqlite).
    #[serde(default)]
    pub path: Option<String>,
    /// On update: the revision you read (required).
    #[serde(default)]
    pub revision: Option<i64>,
}

/// A connection as the API shows it: never the password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Connector.
    #[serde(rename = "type")]
    pub connector: String,
    /// URL without password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `***` when a password is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// File path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Send it back with an update.
    pub revision: i64,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// A successful connection test.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProbeView {
    /// The server's version.
    pub server_version: String,
    /// Connect plus one round trip.
    pub latency_ms: u64,
}

/// A column.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ColumnView {
    /// Name.
    pub name: String,
    /// The server's type name.
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// A table or view.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TableView {
    /// PostgreSQL schema or MySQL database.
    pub schema: Option<String>,
    /// Name.
    pub name: String,
    /// `table` or `view`.
    pub kind: String,
    /// Columns in order.
    pub columns: Vec<ColumnView>,
}

/// Filter of the table listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TablesQuery {
    /// Only this schema (PostgreSQL) or database (MySQL).
    pub schema: Option<String>,
}

impl ConnectionInput {
    /// The spec this input describes; `keep` is the stored password, used
    /// when the input omits it or sends `***`.
    fn to_spec(&self, keep: Option<String>) -> ApiResult<ConnectionSpec> {
        let password = match self.password.as_deref() {
            None | Some(REDACTED) => keep,
            Some("") => None,
            Some(p) => Some(p.to_string()),
        };
        let server = |url: &Option<String>| -> ApiResult<ServerConnection> {
            match url {
                Some(u) if !u.is_empty() => Ok(ServerConnection {
                    url: u.clone(),
                    password: password.clone(),
                }),
                _ => Err(ApiError::invalid(
                    "url",
                    "is required for a server connection",
                )),
            }
        };
        let spec = match self.connector {
            ConnectorType::Postgres => ConnectionSpec::Postgres(server(&self.url)?),
            ConnectorType::Mysql => ConnectionSpec::Mysql(server(&self.url)?),
            ConnectorType::Sqlite => {
                if self.url.is_some() || self.password.is_some() {
                    return Err(ApiError::invalid(
                        "url",
                        "a sqlite connection takes `path`, not `url` or `password`",
                    ));
                }
                let path = self.path.clone().unwrap_or_default();
                ConnectionSpec::Sqlite(FileConnection { path: path.into() })
            }
        };
        if !matches!(self.connector, ConnectorType::Sqlite) && self.path.is_some() {
            return Err(ApiError::invalid(
                "path",
                "only a sqlite connection takes `path`",
            ));
        }
        Ok(spec.normalize()?)
    }
}

/// Stored form: the spec without its password, and the password sealed.
fn seal(state: &AppState, spec: &ConnectionSpec) -> ApiResult<(String, Option<String>)> {
    let mut bare = spec.clone();
    bare.set_password(None);
    let json = serde_json::to_string(&bare)
        .map_err(|e| ApiError::from(ferry_core::Error::Internal(e.to_string())))?;
    let secret = spec.password().map(|p| state.secrets.seal(p)).transpose()?;
    Ok((json, secret))
}

/// The stored connection with its password opened (server side only).
pub(crate) fn open(state: &AppState, r: &ConnectionRecord) -> ferry_core::Result<ConnectionSpec> {
    let mut spec: ConnectionSpec = serde_json::from_str(&r.spec)
        .map_err(|e| ferry_core::Error::Internal(format!("stored connection `{}`: {e}", r.name)))?;
    if let Some(sealed) = &r.secret {
        spec.set_password(Some(state.secrets.open(sealed, r.key_id.as_deref())?));
    }
    Ok(spec)
}

fn view(r: &ConnectionRecord) -> ApiResult<ConnectionView> {
    let spec: ConnectionSpec = serde_json::from_str(&r.spec)
        .map_err(|e| ApiError::from(ferry_core::Error::Internal(e.to_string())))?;
    let (url, path) = match &spec {
        ConnectionSpec::Postgres(s) | ConnectionSpec::Mysql(s) => (Some(s.url.clone()), None),
        ConnectionSpec::Sqlite(f) => (None, Some(f.path.display().to_string())),
    };
    Ok(ConnectionView {
        id: r.id.clone(),
        name: r.name.clone(),
        connector: r.connector.clone(),
        url,
        password: r.secret.as_ref().map(|_| REDACTED.to_string()),
        path,
        revision: r.revision,
        created_by: r.created_by.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    })
}

/// Every connection.
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections",
    responses((status = 200, body = Vec<ConnectionView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_connections(
    State(s): State<AppState>,
    _caller: Reader,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    let all = s.store.connections().await?;
    Ok(Json(all.iter().map(view).collect::<ApiResult<_>>()?))
}

/// Creates a connection.
#[utoipa::path(post, path = "/api/v1/connections", tag = "connections", request_body = ConnectionInput,
    responses((status = 201, body = ConnectionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_connection(
    State(s): State<AppState>,
    caller: Operator,
    Json(body): Json<ConnectionInput>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    check_name("name", &body.name, 128)?;
    if body.revision.is_some() {
        return Err(ApiError::invalid(
            "revision",
            "only an update takes a revision",
        ));
    }
    let spec = body.to_spec(None)?;
    let (json, secret) = seal(&s, &spec)?;
    let r = s
        .store
        .create_connection(ConnectionRecord {
            id: String::new(),
            name: body.name.clone(),
            connector: spec.connector().to_string(),
            spec: json,
            key_id: secret.as_ref().map(|_| s.secrets.key_id().to_string()),
            secret,
            revision: 0,
            created_by: caller.user.name.clone(),
            created_at: String::new(),
            updated_at: String::new(),
        })
        .await?;
    tracing::info!(by = %caller.user.name, connection = %r.name, "connection created");
    Ok((StatusCode::CREATED, Json(view(&r)?)))
}

/// One connection.
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "Connection id or name", example = "sample_source")),
    responses((status = 200, body = ConnectionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn get_connection(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(view(&s.store.connection(&id).await?)?))
}

/// Replaces a connection (send the `revision` you read; 409 if it changed).
#[utoipa::path(put, path = "/api/v1/connections/{id}", tag = "connections", request_body = ConnectionInput,
    params(("id" = String, Path, description = "Connection id or name", example = "sample_source")),
    responses((status = 200, body = ConnectionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_connection(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<ConnectionInput>,
) -> ApiResult<Json<ConnectionView>> {
    let current = s.store.connection(&id).await?;
    let revision = body
        .revision
        .ok_or_else(|| ApiError::invalid("revision", "is required: send the revision you read"))?;
    if body.name != current.name {
        return Err(ApiError::invalid(
            "name",
            "a connection cannot be renamed (tasks refer to it by name)",
        ));
    }
    let keep = open(&s, &current)?.password().map(str::to_string);
    let spec = body.to_spec(keep)?;
    if spec.connector() != current.connector {
        return Err(ApiError::invalid(
            "type",
            format!("a {} connection cannot change its type", current.connector),
        ));
    }
    let (json, secret) = seal(&s, &spec)?;
    let key_id = secret.as_ref().map(|_| s.secrets.key_id().to_string());
    let r = s
        .store
        .update_connection(
            &current.id,
            revision,
            &json,
            secret.as_deref(),
            key_id.as_deref(),
        )
        .await?;
    tracing::info!(by = %caller.user.name, connection = %r.name, "connection updated");
    Ok(Json(view(&r)?))
}

/// Deletes a connection no task uses.
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "Connection id or name", example = "sample_source")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_connection(
    State(s): State<AppState>,
    _caller: Operator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let current = s.store.connection(&id).await?;
    let users = super::tasks::tasks_using_connection(&s, &current.name).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "connection `{}` is used by task(s) {}; change or delete them first",
            current.name,
            users.join(", ")
        )));
    }
    s.store.delete_connection(&current.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects once and asks the server its version.
#[utoipa::path(post, path = "/api/v1/connections/{id}/test", tag = "connections",
    params(("id" = String, Path, description = "Connection id or name", example = "sample_source")),
    responses((status = 200, body = ProbeView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem, description = "The server refused the credentials or the target is missing"),
              (status = 503, body = Problem, description = "The server is unreachable")))]
pub async fn test_connection(
    State(s): State<AppState>,
    _caller: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<ProbeView>> {
    let spec = open(&s, &s.store.connection(&id).await?)?;
    let probe = catalog::test_connection(&spec)
        .await
        .map_err(not_found_is_422)?;
    Ok(Json(ProbeView {
        server_version: probe.server_version,
        latency_ms: probe.latency_ms,
    }))
}

/// The tables and views a connection reaches, with their columns.
#[utoipa::path(get, path = "/api/v1/connections/{id}/tables", tag = "connections",
    params(("id" = String, Path, description = "Connection id or name", example = "sample_source"), TablesQuery),
    responses((status = 200, body = Vec<TableView>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn list_tables(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(q): Query<TablesQuery>,
) -> ApiResult<Json<Vec<TableView>>> {
    let spec = open(&s, &s.store.connection(&id).await?)?;
    let tables = catalog::list_tables(&spec, q.schema.as_deref())
        .await
        .map_err(not_found_is_422)?;
    Ok(Json(
        tables
            .into_iter()
            .map(|t| TableView {
                schema: t.schema,
                name: t.name,
                kind: t.kind,
                columns: t
                    .columns
                    .into_iter()
                    .map(|c| ColumnView {
                        name: c.name,
                        data_type: c.data_type,
                        nullable: c.nullable,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// What a connection reaches being missing (a database, a file) is a
/// problem with the connection (422), not a missing API resource (404).
fn not_found_is_422(e: ferry_core::Error) -> ApiError {
    if e.kind() == ferry_core::ErrorKind::NotFound {
        ApiError::invalid("connection", e.to_string())
    } else {
        e.into()
    }
}

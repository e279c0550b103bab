//! Connections: create, read (password shown as `***`), update (optimistic
//! concurrency), delete (refused while a task names it), test, and list the
//! tables a connection reaches.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_store::control::ConnectionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path, Query};
use super::page::{PageQuery, page_of};
use super::users::check_name;
use crate::auth::{Operator, Reader};
use crate::service::connections as svc;

/// A connection as sent by a client: its name, its connector's `type`, and
/// that connector's settings (the document lists each connector's).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ConnectionInput {
    /// Unique name tasks refer to (`connection: <name>`).
    pub name: String,
    /// The connector (`ferry connectors` lists them).
    #[serde(rename = "type")]
    pub connector: String,
    /// On update: the revision you read (required).
    #[serde(default)]
    pub revision: Option<i64>,
    /// The connector's settings, e.g. `url` and `password` for a database
    /// server, `path` for a SQLite file. Secrets are write-only: on update,
    /// omit one or send `***` to keep the stored one, `""` to remove it.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

/// A connection as the API shows it: never a secret (`***` where one is stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Connector.
    #[serde(rename = "type")]
    pub connector: String,
    /// Send it back with an update.
    pub revision: i64,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// The connector's settings (`url`, `path`, …), secrets as `***`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
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

/// A dataset: a table or view, a file prefix, a topic.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TableView {
    /// Its namespace: PostgreSQL schema or MySQL database.
    pub schema: Option<String>,
    /// Name.
    pub name: String,
    /// `table` or `view`, or the connector's own kind.
    pub kind: String,
    /// Columns in order.
    pub columns: Vec<ColumnView>,
}

/// Filter of the dataset listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TablesQuery {
    /// Only this namespace: a schema (PostgreSQL) or database (MySQL).
    pub schema: Option<String>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

page_of!(
    /// A page of the datasets a connection reaches.
    TablePage,
    TableView
);

fn view(state: &AppState, r: &ConnectionRecord) -> ApiResult<ConnectionView> {
    let settings = svc::shown_settings(state, r)?;
    Ok(ConnectionView {
        id: r.id.clone(),
        name: r.name.clone(),
        connector: r.connector.clone(),
        revision: r.revision,
        created_by: r.created_by.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
        settings,
    })
}

/// Connections by name, paged.
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections", params(PageQuery),
    responses((status = 200, body = ConnectionPage), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_connections(
    State(s): State<AppState>,
    _caller: Reader,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ConnectionPage>> {
    let paging = q.paging()?;
    let (page, total) = paging.slice(s.store.connections().await?);
    Ok(Json(ConnectionPage {
        items: page.iter().map(|r| view(&s, r)).collect::<ApiResult<_>>()?,
        total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A page of connections.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionPage {
    /// The connections.
    pub items: Vec<ConnectionView>,
    /// How many there are in all.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
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
    let parsed = svc::Parsed::new(&s, &body.connector, body.settings.clone())?;
    let (json, secret) = svc::seal(&s, &parsed)?;
    let r = s
        .store
        .create_connection(ConnectionRecord {
            id: String::new(),
            name: body.name.clone(),
            connector: parsed.spec.connector.clone(),
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
    Ok((StatusCode::CREATED, Json(view(&s, &r)?)))
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
    Ok(Json(view(&s, &s.store.connection(&id).await?)?))
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
    if ferry_connectors::find("type", &body.connector)?.name() != current.connector {
        return Err(ApiError::invalid(
            "type",
            format!("a {} connection cannot change its type", current.connector),
        ));
    }
    let stored = svc::open(&s, &current)?;
    let settings = svc::merge_update(&stored, body.settings.clone())?;
    let parsed = svc::Parsed::new(&s, &body.connector, settings)?;
    let (json, secret) = svc::seal(&s, &parsed)?;
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
    Ok(Json(view(&s, &r)?))
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
    let users = svc::users_of(&s, &current.name).await?;
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
    let probe = svc::connect(&s, &id)
        .await?
        .test()
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
    responses((status = 200, body = TablePage), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn list_tables(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(q): Query<TablesQuery>,
) -> ApiResult<Json<TablePage>> {
    let paging = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .paging()?;
    let tables = svc::connect(&s, &id)
        .await?
        .datasets(q.schema.as_deref())
        .await
        .map_err(not_found_is_422)?;
    Ok(Json(TablePage::of(
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
        paging,
    )))
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

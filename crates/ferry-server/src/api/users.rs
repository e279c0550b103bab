//! Users and API tokens (admin only, except reading yourself).

use axum::extract::State;
use axum::http::StatusCode;
use ferry_store::control::{Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use super::page::{PageQuery, page_of};
use super::views::{TokenView, UserView};
use crate::auth::{Action, Admin, Caller, Reader, new_token};

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Unique name: letters, digits, `.`, `_`, `-`, `@`; 1–64 characters.
    pub name: String,
    /// The role.
    pub role: Role,
}

/// A change to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// The new role.
    pub role: Role,
    /// Disable (tokens refused) or enable.
    #[serde(default)]
    pub disabled: bool,
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What it is for (1–200 characters).
    pub label: String,
    /// When it stops working (RFC 3339); never if absent.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A created token: the only time the token itself is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its description.
    pub info: TokenView,
}

pub(crate) fn check_name(field: &str, name: &str, max: usize) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("must be 1–{max} characters of letters, digits, `.`, `_`, `-`, `@`"),
        ))
    }
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
pub async fn me(caller: Caller) -> Json<UserView> {
    Json(caller.user.into())
}

/// Users, paged.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = UserPage), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_users(
    State(s): State<AppState>,
    _caller: Admin,
    super::extract::Query(p): super::extract::Query<PageQuery>,
) -> ApiResult<Json<UserPage>> {
    let paging = p.paging()?;
    let users = s.store.users().await?;
    Ok(Json(UserPage::of(
        users.into_iter().map(UserView::from).collect(),
        paging,
    )))
}

page_of!(
    /// A page of users.
    UserPage,
    UserView
);

page_of!(
    /// A page of a user's tokens (never the tokens themselves).
    TokenPage,
    TokenView
);

/// Creates a user (without a token: create one next).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(s): State<AppState>,
    caller: Admin,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    check_name("name", &body.name, 64)?;
    let user = s.store.create_user(&body.name, body.role).await?;
    tracing::info!(by = %caller.user.name, user = %user.name, role = %user.role, "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Changes a user's role or disables them.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = String, Path, description = "User id or name")),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    State(s): State<AppState>,
    caller: Admin,
    Path(id): Path<String>,
    Json(body): Json<UserChange>,
) -> ApiResult<Json<UserView>> {
    let user = s.store.user(&id).await?;
    if user.id == caller.user.id && (body.role != Role::Admin || body.disabled) {
        return Err(ApiError::conflict(
            "you cannot demote or disable yourself; another admin can",
        ));
    }
    Ok(Json(
        s.store
            .update_user(&user.id, body.role, body.disabled)
            .await?
            .into(),
    ))
}

fn may_manage_tokens(caller: &Caller, user: &User) -> ApiResult<()> {
    if caller.user.id == user.id {
        return Ok(());
    }
    caller.require(Action::Admin)
}

/// A user's tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/users/{id}/tokens", tag = "users",
    params(("id" = String, Path, description = "User id or name"), PageQuery),
    responses((status = 200, body = TokenPage), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    caller: Reader,
    Path(id): Path<String>,
    super::extract::Query(p): super::extract::Query<PageQuery>,
) -> ApiResult<Json<TokenPage>> {
    let paging = p.paging()?;
    let user = s.store.user(&id).await?;
    may_manage_tokens(&caller, &user)?;
    let tokens = s.store.tokens(&user.id).await?;
    Ok(Json(TokenPage::of(
        tokens.into_iter().map(TokenView::from).collect(),
        paging,
    )))
}

/// Creates a token for a user (admins for anyone, others for themselves).
#[utoipa::path(post, path = "/api/v1/users/{id}/tokens", tag = "users", request_body = NewTokenRequest,
    params(("id" = String, Path, description = "User id or name")),
    responses((status = 201, body = CreatedToken), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(s): State<AppState>,
    caller: Reader,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let user = s.store.user(&id).await?;
    may_manage_tokens(&caller, &user)?;
    let body: NewTokenRequest = crate::service::parse_json("body", &body)?;
    if body.label.is_empty() || body.label.chars().count() > 200 {
        return Err(ApiError::invalid("label", "must be 1–200 characters"));
    }
    let expires = body
        .expires_at
        .as_deref()
        .map(|t| ferry_store::normalize_timestamp("expires_at", t).map_err(ApiError::from))
        .transpose()?;
    let t = new_token();
    let info = s
        .store
        .create_token(
            &user.id,
            &t.hash,
            &t.prefix,
            &body.label,
            expires.as_deref(),
        )
        .await?;
    tracing::info!(by = %caller.user.name, user = %user.name, token = %info.prefix, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: t.token,
            info: info.into(),
        }),
    ))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/users/{id}/tokens/{token_id}", tag = "users",
    params(("id" = String, Path, description = "User id or name"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    caller: Reader,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = s.store.user(&id).await?;
    may_manage_tokens(&caller, &user)?;
    s.store.revoke_token(&user.id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

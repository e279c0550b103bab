//! Authentication (bearer tokens) and authorization (roles).
//!
//! A token is `fry_` + 43 characters of base64url (256 random bits); the
//! store keeps only its SHA-256, so a leaked database reveals no token, and
//! with that much entropy a slow password hash would add nothing. Every
//! route except the health probes and the API document needs a token.
//!
//! | action | admin | approver | operator | viewer |
//! |---|---|---|---|---|
//! | read (tasks, instances, logs, metrics) | ✓ | ✓ | ✓ | ✓ |
//! | operate (connections, tasks, runs) | ✓ | | ✓ | |
//! | approve / reject | ✓ | ✓ | | |
//! | users and tokens | ✓ | | | |

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_store::Store;
use ferry_store::control::{Role, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::api::error::ApiError;

/// What a request wants to do, for the role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read anything but secrets.
    Read,
    /// Change connections and tasks, and run, stop, rerun, backfill.
    Operate,
    /// Approve or reject a task version.
    Approve,
    /// Manage users and tokens.
    Admin,
}

impl Action {
    /// Roles allowed to do it.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Action::Read => &[Role::Admin, Role::Approver, Role::Operator, Role::Viewer],
            Action::Operate => &[Role::Admin, Role::Operator],
            Action::Approve => &[Role::Admin, Role::Approver],
            Action::Admin => &[Role::Admin],
        }
    }
}

/// A new token and what the store keeps of it.
pub struct NewToken {
    /// The token, shown once.
    pub token: String,
    /// Its SHA-256, hex.
    pub hash: String,
    /// Its first characters.
    pub prefix: String,
}

/// Makes a new random token.
pub fn new_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!("fry_{}", URL_SAFE_NO_PAD.encode(bytes));
    NewToken {
        hash: hash_token(&token),
        prefix: token[..12].to_string(),
        token,
    }
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a user with a first token (for `ferry server init` and the
/// bootstrap); returns the token.
pub async fn create_user_with_token(
    store: &Store,
    name: &str,
    role: Role,
    label: &str,
) -> ferry_core::Result<(User, String)> {
    let user = store.create_user(name, role).await?;
    let t = new_token();
    store
        .create_token(&user.id, &t.hash, &t.prefix, label, None)
        .await?;
    Ok((user, t.token))
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
}

impl Caller {
    /// 403 unless the caller's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if action.roles().contains(&self.user.role) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "user `{}` has role {}; this needs one of: {}",
            self.user.name,
            self.user.role,
            action
                .roles()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("send `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?;
        let user = state
            .store
            .user_by_token(&hash_token(token))
            .await?
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown, revoked or expired"))?;
        Ok(Caller { user })
    }
}

/// Declares an extractor that authenticates the caller and checks their
/// role before anything else of the request (its body included) is read,
/// so a caller without the role gets 403, never a validation error.
macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident => $action:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($action)?;
                Ok($name(caller))
            }
        }

        impl std::ops::Deref for $name {
            type Target = Caller;
            fn deref(&self) -> &Caller {
                &self.0
            }
        }
    };
}

role_extractor!(
    /// A caller who may read.
    Reader => Action::Read
);
role_extractor!(
    /// A caller who may operate (admin, operator).
    Operator => Action::Operate
);
role_extractor!(
    /// A caller who may approve (admin, approver).
    Approver => Action::Approve
);
role_extractor!(
    /// An admin.
    Admin => Action::Admin
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 4 + 43);
        assert_eq!(a.hash, hash_token(&a.token));
        assert!(!a.hash.contains(&a.token));
        assert!(a.token.starts_with(&a.prefix));
    }
}

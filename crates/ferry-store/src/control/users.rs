//! Users and their API tokens (only a token's hash is stored).

use ferry_core::{Error, Result};
use sqlx::any::AnyRow;

use super::{Get, Role, TokenInfo, User, new_id};
use crate::db_error::is_unique_violation;
use crate::{Store, non_empty, now};

fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.text("id")?,
        name: row.text("name")?,
        role: row.text("role")?.parse()?,
        disabled: row.int("disabled")? != 0,
        created_at: row.text("created_at")?,
    })
}

fn token(row: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        prefix: row.text("prefix")?,
        label: row.text("label")?,
        created_at: row.text("created_at")?,
        expires_at: row.opt_text("expires_at")?,
        revoked_at: row.opt_text("revoked_at")?,
    })
}

const USER_COLUMNS: &str = "SELECT id, name, role, disabled, created_at FROM ferry_users ";
const TOKEN_COLUMNS: &str =
    "SELECT id, user_id, prefix, label, created_at, expires_at, revoked_at FROM ferry_tokens ";

impl Store {
    /// Creates a user. A taken name is a conflict.
    pub async fn create_user(&self, name: &str, role: Role) -> Result<User> {
        non_empty("name", name)?;
        let u = User {
            id: new_id(),
            name: name.to_string(),
            role,
            disabled: false,
            created_at: now(),
        };
        let r = sqlx::query(
            "INSERT INTO ferry_users (id, name, role, disabled, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(u.id.as_str())
        .bind(u.name.as_str())
        .bind(role.as_str())
        .bind(u.created_at.as_str())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(u),
            Err(e) if is_unique_violation(&e) => Err(Error::conflict(format!(
                "a user named `{name}` already exists"
            ))),
            Err(e) => Err(self.db("creating a user", e)),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("{USER_COLUMNS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing users", e))?;
        rows.iter().map(user).collect()
    }

    /// The user with this id or name.
    pub async fn user(&self, id_or_name: &str) -> Result<User> {
        let row = sqlx::query(&format!("{USER_COLUMNS} WHERE id = $1 OR name = $2"))
            .bind(id_or_name)
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db("reading a user", e))?;
        match row {
            Some(r) => user(&r),
            None => Err(Error::not_found("user", id_or_name)),
        }
    }

    /// Whether any admin exists (a new store has none until `server init`).
    pub async fn has_admin(&self) -> Result<bool> {
        let row = sqlx::query("SELECT count(*) AS n FROM ferry_users WHERE role = 'admin'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.db("counting admins", e))?;
        Ok(row.int("n")? > 0)
    }

    /// Changes a user's role or disables them.
    pub async fn update_user(&self, id: &str, role: Role, disabled: bool) -> Result<User> {
        let r = sqlx::query("UPDATE ferry_users SET role = $1, disabled = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db("updating a user", e))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found("user", id));
        }
        self.user(id).await
    }

    /// Records a token by its hash.
    pub async fn create_token(
        &self,
        user_id: &str,
        token_hash: &str,
        prefix: &str,
        label: &str,
        expires_at: Option<&str>,
    ) -> Result<TokenInfo> {
        let t = TokenInfo {
            id: new_id(),
            user_id: user_id.to_string(),
            prefix: prefix.to_string(),
            label: label.to_string(),
            created_at: now(),
            expires_at: expires_at.map(str::to_string),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO ferry_tokens (id, user_id, token_hash, prefix, label, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id.as_str())
        .bind(user_id)
        .bind(token_hash)
        .bind(prefix)
        .bind(label)
        .bind(t.created_at.as_str())
        .bind(t.expires_at.clone())
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("creating a token", e))?;
        Ok(t)
    }

    /// The enabled user owning a live token with this hash, if any.
    pub async fn user_by_token(&self, token_hash: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_at FROM ferry_tokens t \
             JOIN ferry_users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db("checking a token", e))?;
        row.as_ref().map(user).transpose()
    }

    /// A user's tokens.
    pub async fn tokens(&self, user_id: &str) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(&format!(
            "{TOKEN_COLUMNS} WHERE user_id = $1 ORDER BY created_at"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db("listing tokens", e))?;
        rows.iter().map(token).collect()
    }

    /// Revokes a token of a user.
    pub async fn revoke_token(&self, user_id: &str, token_id: &str) -> Result<()> {
        let r = sqlx::query(
            "UPDATE ferry_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(token_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("revoking a token", e))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found("token", token_id));
        }
        Ok(())
    }
}

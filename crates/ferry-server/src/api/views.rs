//! What the API shows of the store's records: its own types, so the
//! stored form can change without changing the API (and the document), and
//! nothing the store keeps internally leaks into a response by accident.
//! Each converts from its record with `From`.

use ferry_store::control::{
    Approval, Attempt, AttemptState, Decision, Instance, InstanceState, Role, TokenInfo, Trigger,
    User,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An instance: one run of a task for one logical time, and its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceView {
    /// Id.
    pub id: String,
    /// The task.
    pub task_id: String,
    /// The task version it runs (the approved one when it was created).
    pub version: i64,
    /// Its logical time (RFC 3339 UTC).
    pub logical_time: String,
    /// Start of its data window, inclusive.
    pub window_start: Option<String>,
    /// End of its data window, exclusive.
    pub window_end: Option<String>,
    /// Where it is.
    pub state: InstanceState,
    /// What created it.
    pub trigger: Trigger,
    /// The caller's idempotency key, if any.
    pub run_key: Option<String>,
    /// Attempts so far.
    pub attempt_count: i64,
    /// The runner holding it.
    pub lease_owner: Option<String>,
    /// When that runner's lease ends unless renewed.
    pub lease_expires_at: Option<String>,
    /// A stop was asked for and the runner has not acted on it yet.
    pub cancel_requested: bool,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was (last) queued.
    pub queued_at: String,
    /// When its current attempt started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Optimistic-concurrency revision.
    pub revision: i64,
    /// A retry waits until then (its back-off).
    pub not_before: Option<String>,
}

impl From<Instance> for InstanceView {
    fn from(r: Instance) -> InstanceView {
        InstanceView {
            id: r.id,
            task_id: r.task_id,
            version: r.version,
            logical_time: r.logical_time,
            window_start: r.window_start,
            window_end: r.window_end,
            state: r.state,
            trigger: r.trigger,
            run_key: r.run_key,
            attempt_count: r.attempt_count,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at,
            cancel_requested: r.cancel_requested,
            created_by: r.created_by,
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            revision: r.revision,
            not_before: r.not_before,
        }
    }
}

/// One try of an instance, with its metrics and error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// Id.
    pub id: String,
    /// The instance.
    pub instance_id: String,
    /// 1 for the first try.
    pub number: i64,
    /// The runner that ran it.
    pub runner: String,
    /// The engine's run id (in dirty records and the sink's checkpoint).
    pub run_id: Option<String>,
    /// How it ended.
    pub state: AttemptState,
    /// Start.
    pub started_at: String,
    /// End.
    pub finished_at: Option<String>,
    /// Rows read.
    pub rows_read: Option<i64>,
    /// Rows written.
    pub rows_written: Option<i64>,
    /// Bytes of Arrow data moved.
    pub bytes: Option<i64>,
    /// Rows routed to dirty data.
    pub rows_dirty: Option<i64>,
    /// Wall time.
    pub duration_ms: Option<i64>,
    /// Whether the row counts checked out end to end.
    pub verified: Option<bool>,
    /// The error's kind (`invalid_config`, `transient`, `cancelled`, …).
    pub error_kind: Option<String>,
    /// The error's message.
    pub error_message: Option<String>,
    /// Where the dirty rows were recorded.
    pub dirty_location: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(r: Attempt) -> AttemptView {
        AttemptView {
            id: r.id,
            instance_id: r.instance_id,
            number: r.number,
            runner: r.runner,
            run_id: r.run_id,
            state: r.state,
            started_at: r.started_at,
            finished_at: r.finished_at,
            rows_read: r.rows_read,
            rows_written: r.rows_written,
            bytes: r.bytes,
            rows_dirty: r.rows_dirty,
            duration_ms: r.duration_ms,
            verified: r.verified,
            error_kind: r.error_kind,
            error_message: r.error_message,
            dirty_location: r.dirty_location,
        }
    }
}

/// An approver's decision on a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Id.
    pub id: String,
    /// The task.
    pub task_id: String,
    /// The version decided on.
    pub version: i64,
    /// The decision.
    pub decision: Decision,
    /// Who decided.
    pub decided_by: String,
    /// Why.
    pub comment: Option<String>,
    /// When.
    pub decided_at: String,
}

impl From<Approval> for ApprovalView {
    fn from(r: Approval) -> ApprovalView {
        ApprovalView {
            id: r.id,
            task_id: r.task_id,
            version: r.version,
            decision: r.decision,
            decided_by: r.decided_by,
            comment: r.comment,
            decided_at: r.decided_at,
        }
    }
}

/// A user (never a password or token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user's tokens are refused.
    pub disabled: bool,
    /// When created (RFC 3339).
    pub created_at: String,
}

impl From<User> for UserView {
    fn from(r: User) -> UserView {
        UserView {
            id: r.id,
            name: r.name,
            role: r.role,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

/// A token's description (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    /// What it is for.
    pub label: String,
    /// When created.
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

impl From<TokenInfo> for TokenView {
    fn from(r: TokenInfo) -> TokenView {
        TokenView {
            id: r.id,
            user_id: r.user_id,
            prefix: r.prefix,
            label: r.label,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

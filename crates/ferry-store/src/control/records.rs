//! Record types and their stored words.

use std::fmt;
use std::str::FromStr;

use ferry_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a closed set of words stored in a TEXT column.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($word => Ok($name::$var),)+
                    other => Err(Error::invalid(
                        stringify!($name),
                        format!("`{other}` is not one of {}", [$($word),+].join(", ")),
                    )),
                }
            }
        }
    };
}

words! {
    /// What a user may do. Each role includes the ones below it except that
    /// an approver cannot operate and an operator cannot approve.
    Role {
        /// Everything, including users, tokens and connections.
        Admin => "admin",
        /// Approve or reject task versions; read everything.
        Approver => "approver",
        /// Create and edit tasks and connections, submit, start, stop,
        /// rerun, backfill, pause, resume; read everything.
        Operator => "operator",
        /// Read everything (secrets never).
        Viewer => "viewer",
    }
}

words! {
    /// Where a task is in its life.
    ///
    /// `draft → submitted → approved | rejected`, then `approved → active ⇄
    /// paused`, and any → `deleted`. Once a version is approved the task
    /// keeps its operational state while later versions are reviewed.
    TaskState {
        /// Being written; not reviewed.
        Draft => "draft",
        /// Waiting for an approver.
        Submitted => "submitted",
        /// Sent back by an approver; edit and submit again.
        Rejected => "rejected",
        /// Approved, schedule not started; runs can be started by hand.
        Approved => "approved",
        /// Approved and scheduled.
        Active => "active",
        /// Approved; schedule and queued instances held.
        Paused => "paused",
        /// Gone: no schedule, no new instances.
        Deleted => "deleted",
    }
}

words! {
    /// The review state of one task version.
    Review {
        /// Not submitted.
        Draft => "draft",
        /// Waiting for an approver.
        Submitted => "submitted",
        /// Approved: the version that runs (until a later one is approved).
        Approved => "approved",
        /// Rejected by an approver.
        Rejected => "rejected",
        /// Replaced by a later version before or after approval.
        Superseded => "superseded",
    }
}

words! {
    /// An approver's decision.
    Decision {
        /// The version may run.
        Approved => "approved",
        /// The version may not run.
        Rejected => "rejected",
    }
}

words! {
    /// Where an instance is in its life.
    InstanceState {
        /// Waiting for a runner.
        Queued => "queued",
        /// A runner holds its lease and runs an attempt.
        Running => "running",
        /// The last attempt committed.
        Succeeded => "succeeded",
        /// The last attempt failed; the target is as it was before it.
        Failed => "failed",
        /// Stopped by an operator; the target is as it was before it.
        Cancelled => "cancelled",
    }
}

words! {
    /// What created an instance.
    Trigger {
        /// `start now` by an operator.
        Manual => "manual",
        /// The built-in scheduler.
        Schedule => "schedule",
        /// A backfill over a logical-time range.
        Backfill => "backfill",
        /// An external scheduler (Airflow, DolphinScheduler) through the API.
        External => "external",
    }
}

words! {
    /// How one attempt ended.
    AttemptState {
        /// Still running.
        Running => "running",
        /// Committed.
        Succeeded => "succeeded",
        /// Failed; nothing published.
        Failed => "failed",
        /// Stopped on request; nothing published.
        Cancelled => "cancelled",
        /// Its runner stopped renewing the lease (crashed or cut off); another
        /// runner took the instance over.
        Lost => "lost",
    }
}

/// A user of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
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

/// An API token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
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

/// A stored connection (secret sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Id.
    pub id: String,
    /// Unique name tasks refer to.
    pub name: String,
    /// Connector name.
    pub connector: String,
    /// JSON of the spec without its password.
    pub spec: String,
    /// The sealed password.
    pub secret: Option<String>,
    /// Fingerprint of the key that sealed it.
    pub key_id: Option<String>,
    /// Optimistic-concurrency revision.
    pub revision: i64,
    /// Who created it.
    pub created_by: String,
    /// When created.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
}

/// A task's current record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskRecord {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Lifecycle state.
    pub state: TaskState,
    /// The newest version.
    pub latest_version: i64,
    /// The version that runs, once one is approved.
    pub approved_version: Option<i64>,
    /// Instances of this task that may run at once.
    pub max_parallel: i64,
    /// Optimistic-concurrency revision: send it back with a change.
    pub revision: i64,
    /// Who created it.
    pub created_by: String,
    /// When created.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
}

/// One version of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskVersion {
    /// The task.
    pub task_id: String,
    /// Version number, from 1.
    pub version: i64,
    /// JSON of the task spec.
    pub spec: String,
    /// JSON of the schedule, if any.
    pub schedule: Option<String>,
    /// The spec's inline secrets, sealed (never shown).
    pub secret: Option<super::tasks::Sealed>,
    /// Review state.
    pub review: Review,
    /// Who wrote it.
    pub author: String,
    /// When written.
    pub created_at: String,
}

/// An approver's decision on a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
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

/// One run of a task for one logical time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Instance {
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

/// One try of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
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

//! The publish of a PostgreSQL write: for a `full_overwrite` of an existing
//! table, what `prepare` readies (see [`super::overwrite`] for the
//! strategies) and what the run summary is told about it at the commit.

use tokio_postgres::Client;

use ferry_core::Result;
use ferry_core::connector::PublishReport;

use super::catalog::PgTable;
use super::overwrite::{self, Staging};
use super::{PgEndpoint, map_err};
use crate::common::server_spec::Overwrite;

/// How a `full_overwrite` publishes (decided in `prepare`) and when it
/// locked the target, for the run summary.
#[derive(Default)]
pub(super) struct Publish {
    /// The strategy and why it differs from the configured one; `None`:
    /// not an overwrite, nothing to report.
    pub(super) strategy: Option<(&'static str, Option<String>)>,
    /// The lock it takes on the target.
    pub(super) lock: &'static str,
    /// Whether that lock makes readers wait.
    pub(super) blocks_readers: bool,
    /// The staging table of a swap.
    pub(super) staging: Option<Staging>,
    /// When the target's lock was taken and how long that took.
    pub(super) timing: Option<(std::time::Instant, std::time::Duration)>,
}

impl Publish {
    /// The report, once the `COMMIT` has returned (`None`: not an overwrite).
    pub(super) fn report(&self) -> Option<PublishReport> {
        let (strategy, note) = self.strategy.clone()?;
        Some(overwrite::report(
            strategy,
            note,
            self.lock,
            self.blocks_readers,
            self.timing,
        ))
    }
}

/// Readies an overwrite of the existing `target`: drops earlier runs'
/// debris, then creates the staging table (swap) or locks the target and
/// empties it (delete, truncate), inside the run's transaction.
pub(super) async fn prepare_overwrite(
    client: &Client,
    ep: &PgEndpoint,
    target: &PgTable,
    asked: Option<Overwrite>,
    schema: &str,
    name: &str,
) -> Result<Publish> {
    overwrite::drop_debris(client, ep, schema, name).await?;
    let chosen = overwrite::choose(client, ep, target, asked).await?;
    let quoted = &target.quoted;
    let in_txn = |what: &str| format!("{what} {} (inside the run's transaction)", target.display);
    let mut publish = Publish {
        strategy: Some((chosen.strategy.as_str(), chosen.note)),
        ..Publish::default()
    };
    match chosen.strategy {
        Overwrite::Swap => {
            publish.lock = "ACCESS EXCLUSIVE, for the swap only";
            publish.blocks_readers = true;
            publish.staging =
                Some(overwrite::create_staging(client, ep, target, schema, name).await?);
        }
        Overwrite::Delete => {
            publish.lock = "ROW EXCLUSIVE";
            publish.timing =
                Some(overwrite::lock_target(client, ep, quoted, "ROW EXCLUSIVE").await?);
            let n = client
                .execute(&format!("DELETE FROM {quoted}"), &[])
                .await
                .map_err(|e| map_err(&ep.display, &in_txn("deleting the rows of"), e))?;
            tracing::info!(table = %target.display, rows = n, "deleted the old rows (inside the run's transaction)");
        }
        Overwrite::Truncate => {
            publish.lock = "ACCESS EXCLUSIVE";
            publish.blocks_readers = true;
            publish.timing =
                Some(overwrite::lock_target(client, ep, quoted, "ACCESS EXCLUSIVE").await?);
            client
                .batch_execute(&format!("TRUNCATE {quoted}"))
                .await
                .map_err(|e| map_err(&ep.display, &in_txn("truncating"), e))?;
        }
    }
    Ok(publish)
}

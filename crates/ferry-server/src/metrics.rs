//! Prometheus metrics.
//!
//! Counters and histograms are recorded by the runners as attempts finish;
//! the instance gauges and the scheduler lag are read from the store at
//! each scrape, so every node reports the cluster's numbers, not only its
//! own.

use ferry_store::Store;
use ferry_store::control::{AttemptState, InstanceState};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Attempt duration buckets, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Installs the process-wide recorder; `None` if one is already installed
/// (a second server in the same process, in tests).
pub fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("ferry_attempt_duration_seconds".into()),
            DURATION_BUCKETS,
        )
        .ok()?;
    let handle = builder.install_recorder().ok()?;
    describe();
    Some(handle)
}

fn describe() {
    metrics::describe_gauge!("ferry_instances", "Instances by state (whole cluster)");
    metrics::describe_gauge!(
        "ferry_scheduler_lag_seconds",
        "How long the oldest queued instance of a runnable task has waited"
    );
    metrics::describe_counter!("ferry_rows_read_total", "Rows read by finished attempts");
    metrics::describe_counter!(
        "ferry_rows_written_total",
        "Rows written by finished attempts"
    );
    metrics::describe_counter!("ferry_bytes_total", "Bytes of Arrow data moved");
    metrics::describe_counter!("ferry_rows_dirty_total", "Rows routed to dirty data");
    metrics::describe_counter!("ferry_attempts_total", "Finished attempts by outcome");
    metrics::describe_histogram!(
        "ferry_attempt_duration_seconds",
        "Wall time of finished attempts"
    );
}

/// Reads the cluster gauges from the store.
pub async fn refresh(store: &Store) -> ferry_core::Result<()> {
    let counts = store.instance_counts().await?;
    for state in InstanceState::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("ferry_instances", "state" => state.as_str()).set(n as f64);
    }
    let lag = match store.oldest_queued().await? {
        Some(t) => {
            chrono::DateTime::parse_from_rfc3339(&t)
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds())
                .unwrap_or(0)
                .max(0) as f64
                / 1000.0
        }
        None => 0.0,
    };
    metrics::gauge!("ferry_scheduler_lag_seconds").set(lag);
    Ok(())
}

/// Records a finished attempt.
pub fn attempt_finished(
    state: AttemptState,
    task: &str,
    rows_read: u64,
    rows_written: u64,
    bytes: u64,
    rows_dirty: u64,
    seconds: f64,
) {
    let task = task.to_string();
    metrics::counter!("ferry_attempts_total", "state" => state.as_str(), "task" => task.clone())
        .increment(1);
    metrics::counter!("ferry_rows_read_total", "task" => task.clone()).increment(rows_read);
    metrics::counter!("ferry_rows_written_total", "task" => task.clone()).increment(rows_written);
    metrics::counter!("ferry_bytes_total", "task" => task.clone()).increment(bytes);
    metrics::counter!("ferry_rows_dirty_total", "task" => task.clone()).increment(rows_dirty);
    metrics::histogram!("ferry_attempt_duration_seconds", "task" => task).record(seconds);
}

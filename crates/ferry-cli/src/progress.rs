//! Progress output: an indicatif bar on a terminal, plain `progress …` lines
//! otherwise (one per second), nothing with `--quiet`/`--json`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_engine::{Progress, ProgressFn};
use indicatif::{ProgressBar, ProgressStyle};

/// Prints progress while a run goes on.
pub struct Reporter {
    latest: Arc<Mutex<Progress>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reporter {
    /// Starts reporting (unless `silent`), as a bar when `terminal`.
    pub fn start(silent: bool, terminal: bool) -> Reporter {
        let latest = Arc::new(Mutex::new(Progress::default()));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = (!silent).then(|| {
            let latest = latest.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let bar = terminal.then(|| {
                    let b = ProgressBar::new(0);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                });
                let tick = if terminal {
                    Duration::from_millis(200)
                } else {
                    Duration::from_secs(1)
                };
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => {},
                        _ = stopped.changed() => break,
                    }
                    let p = *latest.lock().unwrap_or_else(|e| e.into_inner());
                    let line = describe(&p, started.elapsed());
                    match &bar {
                        Some(b) => {
                            if let Some(total) = p.estimated_rows {
                                b.set_length(total.max(p.rows));
                                b.set_position(p.rows);
                            }
                            b.set_message(line);
                        }
                        None => println!("progress {line}"),
                    }
                }
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
            })
        });
        Reporter { latest, stop, task }
    }

    /// The callback to hand to the engine.
    pub fn callback(&self) -> ProgressFn {
        let latest = self.latest.clone();
        Arc::new(move |p| *latest.lock().unwrap_or_else(|e| e.into_inner()) = p)
    }

    /// Stops reporting.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

fn describe(p: &Progress, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = p.rows as f64 / secs;
    let eta = match p.estimated_rows {
        Some(total) if rate > 0.0 && total > p.rows => {
            format!("{:.0}s", (total - p.rows) as f64 / rate)
        }
        Some(_) => "0s".into(),
        None => "?".into(),
    };
    format!(
        "rows={} bytes={} rows/s={:.0} splits={}/{} eta={}",
        p.rows, p.bytes, rate, p.splits_done, p.splits_total, eta
    )
}

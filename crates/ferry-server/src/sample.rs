//! `ferry server --sample`: a self-contained demo under the files root
//! (`<files-root>/sample`, where tasks may reach files) — a SQLite source with 10,000 orders, two named connections, an approved
//! hourly task copying the orders, and one queued run — so a first start
//! shows a task, an instance and its logs without any other server.

use ferry_store::control::{ConnectionRecord, Decision, NewInstance, NewTask, TaskState, Trigger};

use crate::app::AppState;

/// Name of the sample task.
pub const TASK: &str = "sample_orders";
const AUTHOR: &str = "ferry-sample";
const ROWS: i64 = 10_000;

/// Creates whatever of the sample is missing.
pub async fn ensure(state: &AppState) -> anyhow::Result<()> {
    let Some(root) = &state.config.files_root else {
        anyhow::bail!("the sample needs a files root (--files-root)");
    };
    let dir = std::fs::canonicalize(root)?.join("sample");
    std::fs::create_dir_all(&dir)?;
    let source = dir.join("source.db");
    let target = dir.join("target.db");
    let src = source.clone();
    tokio::task::spawn_blocking(move || seed(&src)).await??;
    for (name, path) in [("sample_source", &source), ("sample_target", &target)] {
        match state.store.connection(name).await {
            Ok(_) => {}
            Err(e) if e.kind() == ferry_core::ErrorKind::NotFound => {
                let spec = serde_json::json!({"type": "sqlite", "path": path});
                state
                    .store
                    .create_connection(ConnectionRecord {
                        id: String::new(),
                        name: name.into(),
                        connector: "sqlite".into(),
                        spec: serde_json::to_string(&spec)?,
                        secret: None,
                        key_id: None,
                        revision: 0,
                        created_by: AUTHOR.into(),
                        created_at: String::new(),
                        updated_at: String::new(),
                    })
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if state.store.task(TASK).await.is_ok() {
        return Ok(());
    }
    let spec = serde_json::json!({
        "name": TASK,
        "source": {"type": "sqlite", "connection": "sample_source", "table": "orders"},
        "sink": {"type": "sqlite", "connection": "sample_target", "table": "orders"},
        "mode": "full_overwrite"
    });
    let schedule = serde_json::json!({"unit": "hour", "interval": 1});
    let t = state
        .store
        .create_task(&NewTask {
            name: TASK.into(),
            spec: spec.to_string(),
            schedule: Some(schedule.to_string()),
            secret: None,
            max_parallel: 1,
            author: AUTHOR.into(),
        })
        .await?;
    state.store.submit_task(&t.id, None).await?;
    state
        .store
        .decide_task(
            &t.id,
            None,
            Decision::Approved,
            AUTHOR,
            Some("the sample task of `ferry server --sample`"),
        )
        .await?;
    let t = state
        .store
        .set_task_state(&t.id, None, TaskState::Active)
        .await?;
    let now = chrono::Utc::now();
    let hour =
        now - chrono::Duration::seconds(
            i64::from(chrono::Timelike::minute(&now)) * 60
                + i64::from(chrono::Timelike::second(&now)),
        ) - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)));
    let fmt = ferry_store::format_timestamp;
    state
        .store
        .create_instance(&NewInstance {
            task_id: t.id.clone(),
            version: 1,
            logical_time: fmt(hour),
            window_start: Some(fmt(hour - chrono::Duration::hours(1))),
            window_end: Some(fmt(hour)),
            trigger: Trigger::Manual,
            run_key: None,
            created_by: Some(AUTHOR.into()),
        })
        .await?;
    eprintln!(
        "  sample: task `{TASK}` copies {} orders into {} (one run queued)",
        ROWS,
        target.display()
    );
    Ok(())
}

fn seed(path: &std::path::Path) -> anyhow::Result<()> {
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (
             id INTEGER PRIMARY KEY,
             customer TEXT NOT NULL,
             amount NUMERIC(12,2) NOT NULL,
             created_at TEXT NOT NULL
         )",
    )?;
    let have: i64 = db.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    if have > 0 {
        return Ok(());
    }
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO orders (id, customer, amount, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in 1..=ROWS {
            let customer = format!("customer-{:04}", i % 997);
            let amount = format!("{}.{:02}", (i * 37) % 5000, i % 100);
            let created = format!("2026-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24);
            insert.execute(rusqlite::params![i, customer, amount, created])?;
        }
    }
    tx.commit()?;
    Ok(())
}

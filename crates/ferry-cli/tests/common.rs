//! Fixtures shared by the end-to-end tests: a typed source table in
//! PostgreSQL and the canonical row text of it in each dialect.
#![allow(dead_code, clippy::unwrap_used)]

pub use ferry_testkit::*;

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// Creates a PostgreSQL table with every common type, NULLs, unicode (4-byte
/// too), and characters that need escaping in text protocols.
pub async fn make_typed_pg(table: &str, rows: u32) {
    pg_exec(&format!(
        r#"DROP TABLE IF EXISTS {table};
        CREATE TABLE {table} (
            id bigint PRIMARY KEY, name varchar(100), amount numeric(12,2), d date,
            ts timestamp, flag boolean, note text, f float8);
        INSERT INTO {table}
        SELECT g,
               CASE WHEN g % 11 = 0 THEN NULL
                    WHEN g % 5 = 0 THEN 'tab' || chr(9) || 'nl' || chr(10) || 'bs\' || '"q''' || g
                    ELSE 'name ' || g || ' ☃ 😀 ü' END,
               CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 12.34 - 5000)::numeric(12,2) END,
               CASE WHEN g % 17 = 0 THEN NULL ELSE date '1999-12-31' + (g % 9000) END,
               CASE WHEN g % 19 = 0 THEN NULL ELSE timestamp '2001-02-03 04:05:06.789012' + g * interval '37 minutes 0.000123 seconds' END,
               CASE WHEN g % 23 = 0 THEN NULL ELSE g % 2 = 0 END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('x', g % 50) END,
               CASE WHEN g % 29 = 0 THEN NULL ELSE g / 4.0 END
          FROM generate_series(1, {rows}) g;
        ANALYZE {table};"#
    ))
    .await;
}

/// Creates a PostgreSQL table of the typed table's columns with `rows`
/// quickly generated rows (md5 text): big enough that a run can be stopped
/// in the middle of its copy.
pub async fn make_wide_pg(table: &str, rows: u64) {
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id bigint PRIMARY KEY, name varchar(100), amount numeric(12,2), d date,
            ts timestamp, flag boolean, note text, f float8);
         INSERT INTO {table} SELECT g, md5(g::text), g * 0.01, date '2000-01-01' + g % 9000,
            timestamp '2001-01-01' + g * interval '1 second', g % 2 = 0, md5((g * 7)::text), g / 8.0
           FROM generate_series(1, {rows}) g;"
    ))
    .await;
}

/// Canonical row text of the typed table in PostgreSQL.
pub fn pg_canonical(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id::text, coalesce(name,'~'), coalesce(amount::text,'~'), \
         coalesce(to_char(d,'YYYY-MM-DD'),'~'), coalesce(to_char(ts,'YYYY-MM-DD HH24:MI:SS.US'),'~'), \
         coalesce(flag::int::text,'~'), coalesce(note,'~'), coalesce(f::text,'~')) FROM {table}"
    )
}

/// Canonical row text of the typed table in MariaDB.
pub fn my_canonical(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, coalesce(name,'~'), coalesce(cast(amount as char),'~'), \
         coalesce(date_format(d,'%Y-%m-%d'),'~'), coalesce(date_format(ts,'%Y-%m-%d %H:%i:%s.%f'),'~'), \
         coalesce(cast(flag as char),'~'), coalesce(note,'~'), coalesce(cast(f as char),'~')) FROM `{table}`"
    )
}

pub fn pg_endpoint(table: &str) -> String {
    format!(
        "{{type: postgres, url: \"{}\", table: \"{table}\"}}",
        pg_url()
    )
}

pub fn my_endpoint(table: &str) -> String {
    format!(
        "{{type: mysql, url: \"{}\", table: \"{table}\"}}",
        mysql_url()
    )
}

pub fn sqlite_endpoint(path: &std::path::Path, table: &str) -> String {
    format!(
        "{{type: sqlite, path: \"{}\", table: \"{table}\"}}",
        path.display()
    )
}

/// A job file; small split thresholds so even test tables are read in parallel splits.
pub fn job(name: &str, source: &str, sink: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource: {source}\nsink: {sink}\nengine: {{parallelism: 2, splits_per_reader: 3, min_rows_per_split: 500}}\n{extra}"
    )
}

/// Runs a job and asserts success; returns the JSON summary.
pub fn run_ok(yaml: &str) -> serde_json::Value {
    let out = run_ferry(FERRY, &["run", "--json"], yaml);
    assert_eq!(
        out.code, 0,
        "ferry run failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON summary {e}: {}", out.stdout));
    assert_eq!(v["verified"], true, "{v}");
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    assert_eq!(
        n("rows_read"),
        n("rows_committed") + n("rows_filtered") + n("rows_dirty"),
        "{v}"
    );
    v
}

/// Runs a job and asserts failure; returns stderr.
pub fn run_err(yaml: &str) -> String {
    let out = run_ferry(FERRY, &["run"], yaml);
    assert_ne!(
        out.code, 0,
        "ferry run should have failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stderr
}

/// The records of a JSON-lines dirty sink (none if the file is missing).
pub fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The row count of a plain `progress rows=N …` line of `ferry run` (0 for other lines).
pub fn progress_rows(line: &str) -> u64 {
    line.strip_prefix("progress rows=")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Starts `ferry run` on `yaml` and sends `signal` once a progress line
/// reports rows copied (fewer than `total`) and `ready()` holds (polled for
/// up to 30 s); returns its stdout and stderr. Panics if ferry finished.
pub fn signal_mid_copy_when(
    yaml: &str,
    signal: &str,
    total: u64,
    ready: &dyn Fn() -> bool,
) -> (String, String) {
    signal_run_when(&["run"], yaml, signal, total, ready)
}

/// [`signal_mid_copy_when`] for `ferry ARGS… JOB` (`args` starting with `run`).
pub fn signal_run_when(
    args: &[&str],
    yaml: &str,
    signal: &str,
    total: u64,
    ready: &dyn Fn() -> bool,
) -> (String, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let job = scratch_dir().join(format!("{}.yaml", unique("kill")));
    std::fs::write(&job, yaml).unwrap();
    let mut child = Command::new(FERRY)
        .args(args)
        .arg(&job)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let rows = progress_rows(&line);
        if rows > 0 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !ready() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(ready(), "not ready to be stopped: {seen}");
            assert!(
                rows < total,
                "the copy finished before it could be stopped: {line}"
            );
            let status = Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "ferry was not stopped: {seen}");
    (seen, String::from_utf8_lossy(&out.stderr).into())
}

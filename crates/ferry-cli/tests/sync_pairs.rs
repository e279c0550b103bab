//! End-to-end syncs between the real PostgreSQL, MariaDB and SQLite, checked
//! by content: each database computes the canonical text of every row, and
//! the sorted rows' SHA-256 must match between source and target.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[tokio::test]
async fn pg_to_pg_keeps_every_value_across_parallel_splits() {
    let (src, dst) = (unique("pp_src"), unique("pp_dst"));
    make_typed_pg(&src, 5000).await;
    let v = run_ok(&job("pp", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert!(
        v["splits"].as_array().unwrap().len() > 1,
        "expected several splits: {v}"
    );
    assert_eq!(v["rows_committed"], 5000);
    assert_eq!(
        pg_digest(&pg_canonical(&src)).await,
        pg_digest(&pg_canonical(&dst)).await
    );
    // Same dialect: even the native text of whole rows is identical.
    assert_eq!(
        pg_digest(&format!("SELECT t::text FROM {src} t")).await,
        pg_digest(&format!("SELECT t::text FROM {dst} t")).await
    );
    // The created target has the source's key and types.
    let client = pg().await;
    let pk: String = client
        .query_one(&format!("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{dst}'::regclass AND contype = 'p'"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pk, "PRIMARY KEY (id)");
}

#[tokio::test]
async fn pg_to_mariadb_and_back_by_checksum() {
    let (src, mid, back) = (unique("pm_src"), unique("pm_mid"), unique("pm_back"));
    make_typed_pg(&src, 3000).await;
    run_ok(&job("pm", &pg_endpoint(&src), &my_endpoint(&mid), ""));
    let pg_sum = pg_digest(&pg_canonical(&src)).await;
    assert_eq!(pg_sum.rows, 3000);
    assert_eq!(
        my_digest(&my_canonical(&mid)).await,
        pg_sum,
        "PG -> MariaDB content differs"
    );
    run_ok(&job("mp", &my_endpoint(&mid), &pg_endpoint(&back), ""));
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_sum,
        "MariaDB -> PG content differs"
    );
}

#[tokio::test]
async fn pg_to_sqlite_and_back_by_checksum() {
    let (src, back) = (unique("ps_src"), unique("ps_back"));
    let file = scratch_dir().join(format!("{}.db", unique("ps")));
    make_typed_pg(&src, 3000).await;
    run_ok(&job(
        "ps",
        &pg_endpoint(&src),
        &sqlite_endpoint(&file, "items"),
        "",
    ));
    let lite = sqlite_digest(&file, "SELECT CAST(count(*) AS TEXT) FROM items");
    assert_eq!(lite.rows, 1);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let (n, nulls, emoji): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(name IS NULL), sum(name LIKE '%😀%') FROM items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((n, nulls), (3000, 3000 / 11));
    assert!(emoji > 2000, "unicode lost: {emoji}");
    run_ok(&job(
        "sp",
        &sqlite_endpoint(&file, "items"),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_digest(&pg_canonical(&src)).await
    );
}

#[tokio::test]
async fn composite_text_keys_are_split_by_sampled_ranges() {
    let (src, dst) = (unique("ck_src"), unique("ck_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (region text, seq int, day date, val numeric(20,6), PRIMARY KEY (region, seq));
         INSERT INTO {src} SELECT 'region-' || (g % 37) || '-ö', g, date '2024-01-01' + g % 400, g * 1.000001
           FROM generate_series(1, 20000) g;
         ANALYZE {src};"
    ))
    .await;
    // A filtered read: key ranges, which the key's index narrows.
    let v = run_ok(&job(
        "ck",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "source_filter: \"seq > 0\"\nmode: full_overwrite\n",
    ));
    let splits = v["splits"].as_array().unwrap();
    assert!(splits.len() > 2, "{v}");
    assert!(
        splits[1]["description"]
            .as_str()
            .unwrap()
            .contains("(\"region\", \"seq\") >="),
        "{v}"
    );
    let sum: u64 = splits.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(sum, 20000);
    let q = |t: &str| format!("SELECT t::text FROM {t} t");
    assert_eq!(pg_digest(&q(&src)).await, pg_digest(&q(&dst)).await);
    // The whole table: page ranges, one pass over the table in all.
    let v = run_ok(&job(
        "ck",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: full_overwrite\n",
    ));
    let splits = v["splits"].as_array().unwrap();
    assert!(splits.len() > 2, "{v}");
    assert!(
        splits
            .iter()
            .all(|s| s["description"].as_str().unwrap().contains("ctid")),
        "{v}"
    );
    let sum: u64 = splits.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(sum, 20000);
    assert_eq!(pg_digest(&q(&src)).await, pg_digest(&q(&dst)).await);
}

#[tokio::test]
async fn tables_without_key_use_ctid_ranges() {
    let (src, dst) = (unique("nk_src"), unique("nk_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (a int, b text);
         INSERT INTO {src} SELECT g % 100, 'dup' FROM generate_series(1, 30000) g;
         ANALYZE {src};"
    ))
    .await;
    let v = run_ok(&job("nk", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    let splits = v["splits"].as_array().unwrap();
    assert!(
        splits.len() > 1 && splits[0]["description"].as_str().unwrap().contains("ctid"),
        "{v}"
    );
    let q = |t: &str| format!("SELECT t::text FROM {t} t");
    assert_eq!(pg_digest(&q(&src)).await, pg_digest(&q(&dst)).await);
    assert_eq!(pg_digest(&q(&dst)).await.rows, 30000);
}

#[tokio::test]
async fn empty_tables_sync_to_every_sink() {
    let src = unique("empty_src");
    pg_exec(&format!("CREATE TABLE {src} (id int PRIMARY KEY, s text)")).await;
    let file = scratch_dir().join(format!("{}.db", unique("empty")));
    for sink in [
        pg_endpoint(&unique("empty_pg")),
        my_endpoint(&unique("empty_my")),
        sqlite_endpoint(&file, "e"),
    ] {
        let v = run_ok(&job("empty", &pg_endpoint(&src), &sink, ""));
        assert_eq!(v["rows_committed"], 0, "{v}");
        assert_eq!(v["target"]["creates_table"], true, "{v}");
    }
}

#[tokio::test]
async fn append_adds_and_overwrite_replaces() {
    let (src, dst) = (unique("ap_src"), unique("ap_dst"));
    make_typed_pg(&src, 1000).await;
    run_ok(&job(
        "ap",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: full_overwrite\n",
    ));
    // Append needs a target without the key to take the rows twice.
    pg_exec(&format!("ALTER TABLE {dst} DROP CONSTRAINT {dst}_pkey")).await;
    run_ok(&job(
        "ap",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: full_append\n",
    ));
    assert_eq!(
        pg_digest(&format!("SELECT id::text FROM {dst}")).await.rows,
        2000
    );
    run_ok(&job(
        "ap",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: full_overwrite\n",
    ));
    assert_eq!(
        pg_digest(&pg_canonical(&dst)).await,
        pg_digest(&pg_canonical(&src)).await
    );
}

#[tokio::test]
async fn uuid_and_timestamp_keys_are_split_without_losing_rows() {
    for (key_type, key_expr) in [
        ("uuid", "md5(g::text)::uuid"),
        (
            "timestamptz",
            "timestamptz '2020-01-01 00:00:00+00' + g * interval '1.5 seconds'",
        ),
        ("date", "date '1900-01-01' + g"),
    ] {
        let (src, dst) = (unique("key_src"), unique("key_dst"));
        pg_exec(&format!(
            "CREATE TABLE {src} (k {key_type} PRIMARY KEY, v int);
             INSERT INTO {src} SELECT {key_expr}, g FROM generate_series(1, 12000) g;
             ANALYZE {src};"
        ))
        .await;
        // Filtered: split by key ranges (a whole table is split by pages).
        let v = run_ok(&job(
            "keys",
            &pg_endpoint(&src),
            &pg_endpoint(&dst),
            "source_filter: \"v > 0\"\n",
        ));
        let splits = v["splits"].as_array().unwrap();
        assert!(splits.len() > 2, "{key_type}: {v}");
        assert!(
            splits[1]["description"].as_str().unwrap().contains("\"k\""),
            "{key_type}: {v}"
        );
        let q = |t: &str| format!("SELECT t::text FROM {t} t");
        let (a, b) = (pg_digest(&q(&src)).await, pg_digest(&q(&dst)).await);
        assert_eq!((a.rows, &a), (12000, &b), "{key_type}");
    }
}

/// Two runs at once into one new PostgreSQL target: the second waits for the
/// first's lock, then finds the table the first created (a stale name cache
/// once made it create the table again and fail) and overwrites it.
#[tokio::test]
async fn two_runs_at_once_into_a_new_target_both_succeed() {
    let (src, dst) = (unique("race_src"), unique("race_dst"));
    make_typed_pg(&src, 3000).await;
    let yaml = job("race", &pg_endpoint(&src), &pg_endpoint(&dst), "");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let yaml = yaml.clone();
            std::thread::spawn(move || run_ferry(FERRY, &["run", "--json"], &yaml))
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(
        pg_digest(&pg_canonical(&dst)).await,
        pg_digest(&pg_canonical(&src)).await
    );
}

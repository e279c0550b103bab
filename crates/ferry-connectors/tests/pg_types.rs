//! PostgreSQL types beyond the scalars: `interval`, one-dimensional arrays
//! and enums, read and written through the connector against a real server.
//!
//! The server comes from `FERRY_TEST_PG_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/test`); an unreachable server fails
//! the tests. Values are checked as Arrow values on the way in and by the
//! server's own text (`col::text`) on the way out.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, IntervalMonthDayNanoArray, ListArray, StringArray,
};
use arrow::datatypes::{
    Decimal128Type, Int32Type, Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType,
};
use arrow::record_batch::RecordBatch;
use ferry_connectors::common::server_spec::SqlEndpoint;
use ferry_connectors::postgres::{PostgresSink, PostgresSource};
use ferry_core::connector::ReadOptions;
use ferry_core::spec::{SyncMode, TableName};
use ferry_core::{
    BatchStream, ColumnDef, ColumnType, ErrorKind, Rejects, Sink, Source, TableSchema,
};
use ferry_testkit::{pg, pg_exec, unique};
use futures::StreamExt;

fn endpoint(table: &str) -> SqlEndpoint {
    SqlEndpoint {
        connection: None,
        url: ferry_testkit::pg_url(),
        password_env: None,
        table: table.into(),
    }
}

fn name(table: &str) -> TableName {
    TableName::parse("table", table).unwrap()
}

fn text() -> ColumnType {
    ColumnType::Text {
        max_chars: None,
        fixed: false,
    }
}

/// Reads every split of `table`; the batches in split order.
async fn read_all(table: &str) -> ferry_core::Result<(TableSchema, Vec<RecordBatch>)> {
    let src = PostgresSource::new(&endpoint(table), &name(table))?;
    let schema = src.schema().await?;
    let options = ReadOptions {
        readers: 1,
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        max_splits: 3,
        min_rows_per_split: 1,
        batch_bytes: 1 << 20,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = src.open_read(&schema, &options).await?;
    let mut batches = Vec::new();
    let mut failure = None;
    for split in session.splits().to_vec() {
        let mut stream = session.read_split(&split, &Rejects::strict()).await?;
        while let Some(b) = stream.next().await {
            match b {
                Ok(b) => batches.push(b),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
    }
    session.close().await?;
    match failure {
        Some(e) => Err(e),
        None => Ok((schema, batches)),
    }
}

fn stream_of(batches: Vec<RecordBatch>) -> BatchStream {
    futures::stream::iter(batches.into_iter().map(Ok)).boxed()
}

async fn write(
    table: &str,
    schema: &TableSchema,
    batches: Vec<RecordBatch>,
) -> ferry_core::Result<u64> {
    let sink = PostgresSink::new(&endpoint(table), &name(table))?;
    let mut w = sink.prepare(schema, SyncMode::FullOverwrite).await?;
    match w.write_all(stream_of(batches), &Rejects::strict()).await {
        Ok(_) => w.commit().await,
        Err(e) => {
            w.abort().await?;
            Err(e)
        }
    }
}

/// Every row of `sql` (one text column) in order; NULL as `~`.
async fn texts(sql: &str) -> Vec<String> {
    pg().await
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_else(|| "~".into()))
        .collect()
}

const TYPES_DDL: &str = "id int PRIMARY KEY, iv interval, ai int4[], al int8[], at text[], \
     an numeric(10,2)[], aw numeric[], ab bool[], ad date[], atz timestamptz[], au uuid[], \
     av varchar(5)[], asi int2[], af float8[]";

/// Rows with every edge the issue lists: months+days+micros, negative parts,
/// NULLs, NULL elements, empty arrays, unicode, quotes, commas and braces.
async fn make_types_table(table: &str) {
    pg_exec(&format!(
        r#"DROP TABLE IF EXISTS {table};
        CREATE TABLE {table} ({TYPES_DDL});
        INSERT INTO {table} VALUES
        (1, '1 year 2 months 3 days 04:05:06.789', '{{1,NULL,-3}}', '{{9223372036854775807,-9223372036854775808}}',
         ARRAY['a"b', 'c,d', NULL, '☃ 😀', '{{x}}', '', 'back\slash', 'NULL'], '{{1.50,NULL,-99999999.99}}',
         '{{0.000000000000000000001,123456789012345678901234567890.5,NaN}}', '{{t,f,NULL}}',
         '{{2024-02-29,0001-01-01,9999-12-31}}', '{{"2024-01-01 10:00:00.5+02","1970-01-01 00:00:00+00"}}',
         '{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}}', '{{abcde,"x y"}}', '{{-32768,32767}}', '{{1.5,-0,Infinity,NaN}}'),
        (2, '-1 year -2 months +3 days -04:05:06.000001', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, '0', '{{NULL}}', '{{NULL,NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}', '{{NULL}}'),
        (5, '1 mon -1 day 00:00:00.000001', '{{2147483647}}', '{{0}}', '{{""}}', '{{0.00}}', '{{-0.5}}', '{{f}}', '{{1970-01-01}}', '{{"2000-01-01 00:00:00+00"}}', '{{00000000-0000-0000-0000-000000000000}}', '{{""}}', '{{0}}', '{{-1e-300}}');"#
    ))
    .await;
}

/// `col::text` of every column of `table`, row by row in key order.
fn row_text_sql(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, coalesce(iv::text,'~'), coalesce(ai::text,'~'), coalesce(al::text,'~'), \
         coalesce(at::text,'~'), coalesce(an::text,'~'), coalesce(aw::text,'~'), coalesce(ab::text,'~'), \
         coalesce(ad::text,'~'), coalesce(atz::text,'~'), coalesce(au::text,'~'), coalesce(av::text,'~'), \
         coalesce(asi::text,'~'), coalesce(af::text,'~')) FROM {table} ORDER BY id"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_and_arrays_are_read_as_exact_arrow_values() {
    let table = unique("pgt_read");
    make_types_table(&table).await;
    let (schema, batches) = read_all(&table).await.unwrap();
    let ty = |n: &str| schema.column(n).unwrap().ty.clone();
    let list = ColumnType::list;
    assert_eq!(ty("iv"), ColumnType::Interval);
    assert_eq!(ty("ai"), list(ColumnType::Int32));
    assert_eq!(ty("al"), list(ColumnType::Int64));
    assert_eq!(ty("at"), list(text()));
    assert_eq!(
        ty("an"),
        list(ColumnType::Decimal {
            precision: 10,
            scale: 2
        })
    );
    assert_eq!(ty("aw"), list(ColumnType::DecimalText));
    assert_eq!(ty("ab"), list(ColumnType::Bool));
    assert_eq!(ty("ad"), list(ColumnType::Date));
    assert_eq!(ty("atz"), list(ColumnType::TimestampTz));
    assert_eq!(ty("au"), list(ColumnType::Uuid));
    assert_eq!(
        ty("av"),
        list(ColumnType::Text {
            max_chars: Some(5),
            fixed: false
        })
    );
    let batch = arrow::compute::concat_batches(&schema.arrow_schema(), &batches).unwrap();
    let batch = sort_by_id(&batch);
    assert_eq!(batch.num_rows(), 5);
    let col = |n: &str| batch.column_by_name(n).unwrap().clone();

    let iv = col("iv");
    let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
    assert_eq!(
        iv.value(0),
        IntervalMonthDayNano::new(14, 3, (4 * 3600 + 5 * 60 + 6) * 1_000_000_000 + 789_000_000)
    );
    assert_eq!(
        iv.value(1),
        IntervalMonthDayNano::new(-14, 3, -((4 * 3600 + 5 * 60 + 6) * 1_000_000_000 + 1_000))
    );
    assert!(iv.is_null(2));
    assert_eq!(iv.value(3), IntervalMonthDayNano::new(0, 0, 0));
    assert_eq!(iv.value(4), IntervalMonthDayNano::new(1, -1, 1_000));

    let ai = col("ai");
    let ai = ai.as_list::<i32>();
    let first = ai.value(0);
    let first = first.as_primitive::<Int32Type>();
    assert_eq!(first.len(), 3);
    assert_eq!(
        (first.value(0), first.is_null(1), first.value(2)),
        (1, true, -3)
    );
    assert_eq!(ai.value(1).len(), 0, "empty array is an empty list");
    assert!(!ai.is_null(1));
    assert!(ai.is_null(2));
    assert!(ai.value(3).is_null(0), "a NULL element");

    let al = col("al");
    let al = al.as_list::<i32>().value(0);
    assert_eq!(
        al.as_primitive::<Int64Type>().values().to_vec(),
        vec![i64::MAX, i64::MIN]
    );
    let at = col("at");
    let at = at.as_list::<i32>().value(0);
    let at = at.as_string::<i32>();
    let got: Vec<Option<&str>> = at.iter().collect();
    assert_eq!(
        got,
        vec![
            Some("a\"b"),
            Some("c,d"),
            None,
            Some("☃ 😀"),
            Some("{x}"),
            Some(""),
            Some("back\\slash"),
            Some("NULL")
        ]
    );
    let an = col("an");
    let an = an.as_list::<i32>().value(0);
    let an = an.as_primitive::<Decimal128Type>();
    assert_eq!(
        (an.value(0), an.is_null(1), an.value(2)),
        (150, true, -9_999_999_999)
    );
    let aw = col("aw");
    let aw = aw.as_list::<i32>().value(0);
    let aw: Vec<Option<&str>> = aw.as_string::<i32>().iter().collect();
    assert_eq!(
        aw,
        vec![
            Some("0.000000000000000000001"),
            Some("123456789012345678901234567890.5"),
            Some("NaN")
        ]
    );
    let atz = col("atz");
    let atz = atz.as_list::<i32>().value(0);
    let atz = atz.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    assert_eq!(
        atz.value(0),
        1_704_096_000_500_000,
        "10:00:00.5+02 is 08:00:00.5Z"
    );
    assert_eq!(atz.value(1), 0);
}

fn sort_by_id(batch: &RecordBatch) -> RecordBatch {
    let idx =
        arrow::compute::sort_to_indices(batch.column_by_name("id").unwrap(), None, None).unwrap();
    let cols = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &idx, None).unwrap())
        .collect();
    RecordBatch::try_new(batch.schema(), cols).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_to_pg_creates_the_same_types_and_keeps_every_value() {
    let (from, to) = (unique("pgt_from"), unique("pgt_to"));
    make_types_table(&from).await;
    pg_exec(&format!("DROP TABLE IF EXISTS {to}")).await;
    let (schema, batches) = read_all(&from).await.unwrap();
    assert_eq!(write(&to, &schema, batches).await.unwrap(), 5);
    let types = |t: &str| {
        format!(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attnum > 0"
        )
    };
    assert_eq!(texts(&types(&to)).await, texts(&types(&from)).await);
    let a = texts(&row_text_sql(&from)).await;
    assert_eq!(a.len(), 5);
    assert_eq!(texts(&row_text_sql(&to)).await, a);
    assert!(
        a[0].contains(r#"{"a\"b","c,d",NULL,"☃ 😀","{x}","","back\\slash","NULL"}"#),
        "{}",
        a[0]
    );

    // A second run into the existing target (list<int32> into int8[] widens).
    pg_exec(&format!("ALTER TABLE {to} ALTER COLUMN ai TYPE int8[]")).await;
    let (schema, batches) = read_all(&from).await.unwrap();
    assert_eq!(write(&to, &schema, batches).await.unwrap(), 5);
    assert_eq!(texts(&row_text_sql(&to)).await, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_that_are_not_one_dimensional_from_one_fail_naming_the_column() {
    for (value, says) in [
        ("'{{1,2},{3,4}}'", "2 dimensions"),
        ("'[0:1]={1,2}'", "starts at index 0"),
    ] {
        let table = unique("pgt_dims");
        pg_exec(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, grid int4[]);
             INSERT INTO {table} VALUES (1, '{{5}}'), (2, {value});"
        ))
        .await;
        let err = read_all(&table).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirtyData, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("grid") && msg.contains(says), "{msg}");
    }
}

fn schema_of(columns: Vec<(&str, ColumnType)>) -> TableSchema {
    TableSchema {
        table: "t".into(),
        columns: columns
            .into_iter()
            .map(|(n, ty)| ColumnDef {
                name: n.into(),
                native_type: ty.to_string(),
                dialect: None,
                nullable: n != "id",
                ty,
            })
            .collect(),
        primary_key: vec!["id".into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enum_columns_read_as_labels_and_take_text_as_targets() {
    let (ty, from, to) = (
        unique("mood"),
        unique("pgt_enum_from"),
        unique("pgt_enum_to"),
    );
    pg_exec(&format!(
        "DROP TYPE IF EXISTS {ty} CASCADE; CREATE TYPE {ty} AS ENUM ('sad', 'ok', 'happy 😀');
         CREATE TABLE {from} (id int PRIMARY KEY, m {ty});
         INSERT INTO {from} VALUES (1, 'sad'), (2, 'happy 😀'), (3, NULL);
         CREATE TABLE {to} (id int PRIMARY KEY, m {ty});"
    ))
    .await;
    let (schema, batches) = read_all(&from).await.unwrap();
    assert_eq!(schema.column("m").unwrap().ty, text());
    assert_eq!(write(&to, &schema, batches).await.unwrap(), 3);
    let q = |t: &str| format!("SELECT id || ':' || coalesce(m::text, '~') FROM {t} ORDER BY id");
    assert_eq!(texts(&q(&to)).await, vec!["1:sad", "2:happy 😀", "3:~"]);
    assert_eq!(texts(&q(&to)).await, texts(&q(&from)).await);

    // Text that is no label of the enum: the server refuses it, nothing is kept.
    let schema = schema_of(vec![("id", ColumnType::Int32), ("m", text())]);
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int32Array::from(vec![7, 8])),
            Arc::new(StringArray::from(vec![Some("ok"), Some("angry")])),
        ],
    )
    .unwrap();
    let err = write(&to, &schema, vec![batch]).await.unwrap_err();
    assert!(err.to_string().contains("angry"), "{err}");
    assert_eq!(texts(&q(&to)).await, vec!["1:sad", "2:happy 😀", "3:~"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_and_lists_go_into_text_and_json_targets_as_their_text_forms() {
    let to = unique("pgt_textforms");
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {to}; CREATE TABLE {to} (id int PRIMARY KEY, iv text, l jsonb, lt text, lj json)"
    ))
    .await;
    let ints = ColumnType::list(ColumnType::Int32);
    let schema = schema_of(vec![
        ("id", ColumnType::Int32),
        ("iv", ColumnType::Interval),
        ("l", ints.clone()),
        ("lt", ints.clone()),
        ("lj", ints),
    ]);
    let lists = || -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(-3)]),
            Some(vec![]),
            None,
        ]))
    };
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int32Array::from(vec![1, 2, 3])),
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(14, 3, 6_789_000_000)),
                Some(IntervalMonthDayNano::new(0, 0, 0)),
                None,
            ])),
            lists(),
            lists(),
            lists(),
        ],
    )
    .unwrap();
    assert_eq!(write(&to, &schema, vec![batch]).await.unwrap(), 3);
    assert_eq!(
        texts(&format!(
            "SELECT concat_ws('|', id, coalesce(iv,'~'), coalesce(l::text,'~'), coalesce(lt,'~'), coalesce(lj::text,'~')) FROM {to} ORDER BY id"
        ))
        .await,
        vec![
            "1|P1Y2M3DT6.789S|[1, null, -3]|[1,null,-3]|[1,null,-3]",
            "2|PT0S|[]|[]|[]",
            "3|~|~|~|~"
        ]
    );
}

//! Integration tests of the MySQL/MariaDB connector against a real server.
//!
//! The server comes from `FERRY_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`); an unreachable server fails the tests.
//! Every test uses its own tables (`ferry_t_<test>`), so tests run in parallel.
#![cfg(feature = "mysql")]
#![allow(clippy::unwrap_used)]

use ferry_core::Rejects;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use ferry_connectors::common::server_spec::SqlEndpoint;
use ferry_connectors::mysql::{MysqlSink, MysqlSource};
use ferry_core::connector::ReadOptions;
use ferry_core::spec::{SyncMode, TableName};
use ferry_core::{BatchStream, ColumnDef, ColumnType, Error, ErrorKind, Sink, Source, TableSchema};
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row, Value};

fn url() -> String {
    std::env::var("FERRY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The database of the test URL.
fn db() -> String {
    url()
        .rsplit('/')
        .next()
        .unwrap_or("test")
        .split('?')
        .next()
        .unwrap_or("test")
        .to_string()
}

fn endpoint(table: &str) -> SqlEndpoint {
    SqlEndpoint {
        connection: None,
        url: url(),
        password_env: None,
        table: table.into(),
    }
}

fn name(table: &str) -> TableName {
    TableName::parse("table", table).unwrap()
}

fn source(table: &str) -> MysqlSource {
    MysqlSource::new(&endpoint(table), &name(table)).unwrap()
}

fn sink(table: &str) -> MysqlSink {
    MysqlSink::new(&endpoint(table), &name(table)).unwrap()
}

/// A setup connection in UTC with a permissive mode (so tests can store debris).
async fn admin() -> Conn {
    let mut c = Conn::new(Opts::from_url(&url()).unwrap())
        .await
        .expect("the MariaDB/MySQL test server must be reachable (FERRY_TEST_MYSQL_URL)");
    c.query_drop("SET NAMES utf8mb4, time_zone = '+00:00', sql_mode = ''")
        .await
        .unwrap();
    c
}

async fn exec(sql: &str) {
    admin()
        .await
        .query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every row of `sql` as text (`None` for NULL), read with the text protocol.
async fn rows(sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<Row> = admin()
        .await
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i).unwrap() {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(String::from_utf8(b.clone()).unwrap()),
                    other => Some(format!("{other:?}")),
                })
                .collect()
        })
        .collect()
}

async fn table_exists(table: &str) -> bool {
    !rows(&format!(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
    ))
    .await
    .is_empty()
}

async fn read_all(
    src: &MysqlSource,
    batch_bytes: usize,
) -> ferry_core::Result<(TableSchema, Vec<RecordBatch>)> {
    read_all_with(src, batch_bytes, &Rejects::strict()).await
}

/// Collects rejected rows (dirty rows allowed).
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<ferry_core::Rejected>>);

impl ferry_core::reject::RejectSink for Collect {
    fn reject(&self, row: ferry_core::Rejected) -> ferry_core::Result<()> {
        self.0.lock().unwrap().push(row);
        Ok(())
    }

    fn accepts_rows(&self) -> bool {
        true
    }
}

async fn read_all_with(
    src: &MysqlSource,
    batch_bytes: usize,
    rejects: &Rejects,
) -> ferry_core::Result<(TableSchema, Vec<RecordBatch>)> {
    let schema = src.schema().await?;
    let options = ReadOptions {
        readers: 1,
        columns: vec![],
        max_splits: 4,
        min_rows_per_split: 1,
        batch_bytes,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = src.open_read(&schema, &options).await?;
    assert_eq!(session.splits().len(), 1);
    let mut stream = session.read_split(&session.splits()[0], rejects).await?;
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b?);
    }
    session.close().await?;
    Ok((schema, batches))
}

fn col(name: &str, ty: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        native_type: ty.to_string(),
        dialect: None,
        ty,
        nullable,
    }
}

fn stream_of(batches: Vec<RecordBatch>) -> BatchStream {
    futures::stream::iter(batches.into_iter().map(Ok)).boxed()
}

const ALL_TYPES_DDL: &str = "(
    id INT NOT NULL PRIMARY KEY, b BOOL, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT,
    tiu TINYINT UNSIGNED, siu SMALLINT UNSIGNED, miu MEDIUMINT UNSIGNED, iu INT UNSIGNED,
    biu BIGINT UNSIGNED, d DECIMAL(15,2), dw DECIMAL(50,10), f FLOAT, db DOUBLE,
    c CHAR(3), vc VARCHAR(50) NOT NULL DEFAULT '', tt TINYTEXT, tx TEXT, lt LONGTEXT,
    bn BINARY(4), vb VARBINARY(10), bl BLOB, dt DATE, tm TIME(6), dtm DATETIME(6),
    ts TIMESTAMP(6) NULL, j JSON, u UUID, y YEAR, e ENUM('a','b'), st SET('x','y'), bt BIT(10)
)";

async fn create_all_types(table: &str) {
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!("CREATE TABLE {table} {ALL_TYPES_DDL}")).await;
    exec(&format!(
        "INSERT INTO {table} VALUES
         (1, TRUE, -128, -32768, -8388608, -2147483648, -9223372036854775808,
          255, 65535, 16777215, 4294967295, 18446744073709551615, -1234567890123.45,
          '1234567890123456789012345678901234567890.1234567890', 0.1, 1e308,
          'abc', 'hé😀', 'tab\there', 'line\nbreak\\\\', REPEAT('x', 100000),
          0x00ff0010, X'', 0x000102, '0001-01-01', '23:59:59.999999',
          '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '{{\"a\": [1, 2]}}',
          '123e4567-e89b-12d3-a456-426614174000', 2024, 'b', 'x,y', b'1010101010'),
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL),
         (3, FALSE, 127, 32767, 8388607, 2147483647, 9223372036854775807, 0, 0, 0, 0, 0, 0.05,
          '-0.0000000001', -3.5, -2.5e-300, '', 'ünï', '', '', '', 0x00000000, 0xff, '',
          '1970-01-01', '00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:01', '[]',
          '00000000-0000-0000-0000-000000000000', 1901, 'a', '', b'0')"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_discovery_maps_every_type() {
    let table = "ferry_t_schema_types";
    create_all_types(table).await;
    let schema = source(table).schema().await.unwrap();
    assert_eq!(schema.table, format!("{}.{table}", db()));
    assert_eq!(schema.primary_key, vec!["id".to_string()]);
    let text = |n: Option<u32>, fixed| ColumnType::Text {
        max_chars: n,
        fixed,
    };
    let expected = [
        ("id", ColumnType::Int32),
        // BOOL declares tinyint(1): an integer (a bool only when cast).
        ("b", ColumnType::Int16),
        ("ti", ColumnType::Int16),
        ("si", ColumnType::Int16),
        ("mi", ColumnType::Int32),
        ("i", ColumnType::Int32),
        ("bi", ColumnType::Int64),
        ("tiu", ColumnType::Int32),
        ("siu", ColumnType::Int32),
        ("miu", ColumnType::Int64),
        ("iu", ColumnType::Int64),
        (
            "biu",
            ColumnType::Decimal {
                precision: 20,
                scale: 0,
            },
        ),
        (
            "d",
            ColumnType::Decimal {
                precision: 15,
                scale: 2,
            },
        ),
        ("dw", ColumnType::DecimalText),
        ("f", ColumnType::Float32),
        ("db", ColumnType::Float64),
        ("c", text(Some(3), true)),
        ("vc", text(Some(50), false)),
        ("tt", text(None, false)),
        ("tx", text(None, false)),
        ("lt", text(None, false)),
        ("bn", ColumnType::Binary),
        ("vb", ColumnType::Binary),
        ("bl", ColumnType::Binary),
        ("dt", ColumnType::Date),
        ("tm", ColumnType::Time),
        ("dtm", ColumnType::Timestamp),
        ("ts", ColumnType::TimestampTz),
        ("j", ColumnType::Json),
        ("u", ColumnType::Uuid),
        ("y", ColumnType::Int16),
        ("e", text(None, false)),
        ("st", text(None, false)),
        ("bt", ColumnType::Int64),
    ];
    let got: Vec<(&str, ColumnType)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.clone()))
        .collect();
    assert_eq!(got, expected.to_vec());
    let vc = schema.column("vc").unwrap();
    assert!(
        !vc.nullable
            && vc
                .native_type
                .starts_with("varchar(50) CHARACTER SET utf8mb4 COLLATE ")
    );
    assert_eq!(vc.dialect, Some("mysql"));
    assert!(schema.column("tx").unwrap().nullable);
    assert_eq!(schema.column("j").unwrap().native_type, "json");
    assert_eq!(schema.column("iu").unwrap().native_type, "int(10) unsigned");

    // Spatial values travel as the server's bytes, addresses as their text.
    exec("DROP TABLE IF EXISTS ferry_t_schema_geo").await;
    exec("CREATE TABLE ferry_t_schema_geo (id INT, g GEOMETRY, a INET6)").await;
    let geo = source("ferry_t_schema_geo").schema().await.unwrap();
    assert_eq!(geo.column("g").unwrap().ty, ColumnType::Binary);
    assert_eq!(geo.column("a").unwrap().ty, text(None, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_exact_values() {
    let table = "ferry_t_read_values";
    create_all_types(table).await;
    let (_, batches) = read_all(&source(table), 1 << 20).await.unwrap();
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3);
    let c = |n: &str| b.column_by_name(n).unwrap().clone();
    assert_eq!(
        c("id").as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 3]
    );
    let bools = c("b");
    let bools = bools.as_primitive::<Int16Type>();
    assert!(bools.value(0) == 1 && bools.is_null(1) && bools.value(2) == 0);
    assert_eq!(c("ti").as_primitive::<Int16Type>().value(0), -128);
    assert_eq!(c("si").as_primitive::<Int16Type>().value(2), 32767);
    assert_eq!(c("mi").as_primitive::<Int32Type>().value(0), -8_388_608);
    assert_eq!(c("i").as_primitive::<Int32Type>().value(0), i32::MIN);
    assert_eq!(c("bi").as_primitive::<Int64Type>().value(0), i64::MIN);
    assert_eq!(c("bi").as_primitive::<Int64Type>().value(2), i64::MAX);
    assert_eq!(c("tiu").as_primitive::<Int32Type>().value(0), 255);
    assert_eq!(c("siu").as_primitive::<Int32Type>().value(0), 65535);
    assert_eq!(c("miu").as_primitive::<Int64Type>().value(0), 16_777_215);
    assert_eq!(c("iu").as_primitive::<Int64Type>().value(0), 4_294_967_295);
    assert_eq!(
        c("biu").as_primitive::<Decimal128Type>().value(0),
        18_446_744_073_709_551_615
    );
    assert_eq!(
        c("d").as_primitive::<Decimal128Type>().value(0),
        -123_456_789_012_345
    );
    assert_eq!(c("d").as_primitive::<Decimal128Type>().value(2), 5);
    assert_eq!(
        c("dw").as_string::<i32>().value(0),
        "1234567890123456789012345678901234567890.1234567890"
    );
    assert_eq!(c("dw").as_string::<i32>().value(2), "-0.0000000001");
    assert_eq!(c("f").as_primitive::<Float32Type>().value(0), 0.1f32);
    assert_eq!(c("f").as_primitive::<Float32Type>().value(2), -3.5f32);
    assert_eq!(c("db").as_primitive::<Float64Type>().value(0), 1e308);
    assert_eq!(c("db").as_primitive::<Float64Type>().value(2), -2.5e-300);
    assert_eq!(c("c").as_string::<i32>().value(0), "abc");
    assert_eq!(c("vc").as_string::<i32>().value(0), "hé😀");
    assert_eq!(c("vc").as_string::<i32>().value(1), "");
    assert_eq!(c("vc").as_string::<i32>().value(2), "ünï");
    assert_eq!(c("tt").as_string::<i32>().value(0), "tab\there");
    assert_eq!(c("tx").as_string::<i32>().value(0), "line\nbreak\\");
    assert_eq!(c("lt").as_string::<i32>().value(0), "x".repeat(100_000));
    assert_eq!(c("bn").as_binary::<i32>().value(0), &[0, 255, 0, 16]);
    assert_eq!(c("vb").as_binary::<i32>().value(0), b"");
    assert!(c("vb").is_null(1));
    assert_eq!(c("bl").as_binary::<i32>().value(0), &[0, 1, 2]);
    assert_eq!(c("dt").as_primitive::<Date32Type>().value(0), -719_162);
    assert_eq!(c("dt").as_primitive::<Date32Type>().value(2), 0);
    assert_eq!(
        c("tm").as_primitive::<Time64MicrosecondType>().value(0),
        86_399_999_999
    );
    assert_eq!(
        c("dtm").as_primitive::<TimestampMicrosecondType>().value(0),
        253_402_300_799_999_999
    );
    assert_eq!(
        c("ts").as_primitive::<TimestampMicrosecondType>().value(0),
        2_147_483_647_999_999
    );
    assert_eq!(
        c("ts").as_primitive::<TimestampMicrosecondType>().value(2),
        1_000_000
    );
    assert_eq!(c("j").as_string::<i32>().value(0), r#"{"a": [1, 2]}"#);
    let u = c("u");
    let u = u.as_fixed_size_binary();
    assert_eq!(
        u.value(0),
        &[
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00
        ]
    );
    assert_eq!(c("y").as_primitive::<Int16Type>().value(0), 2024);
    assert_eq!(c("e").as_string::<i32>().value(0), "b");
    assert_eq!(c("st").as_string::<i32>().value(0), "x,y");
    // BIT(10) b'1010101010' is the number 0x2aa.
    assert_eq!(c("bt").as_primitive::<Int64Type>().value(0), 0x2aa);
    assert_eq!(c("bt").as_primitive::<Int64Type>().value(2), 0);
    // Row 2 is NULL everywhere except the key and the NOT NULL column.
    for (i, f) in b.schema().fields().iter().enumerate() {
        let nulls = b.column(i).is_null(1);
        assert_eq!(
            nulls,
            !matches!(f.name().as_str(), "id" | "vc"),
            "{}",
            f.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_byte_sized_batches_and_empty_tables() {
    let table = "ferry_t_read_batches";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, s VARCHAR(100))"
    ))
    .await;
    let (_, batches) = read_all(&source(table), 4096).await.unwrap();
    assert!(batches.is_empty(), "an empty table yields no batches");
    exec(&format!(
        "INSERT INTO {table} SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000"
    ))
    .await;
    let (_, batches) = read_all(&source(table), 4096).await.unwrap();
    assert!(batches.len() > 10, "{} batches", batches.len());
    let ids: Vec<i32> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec())
        .collect();
    assert_eq!(ids, (1..=5000).collect::<Vec<_>>());
}

/// Without dirty rows allowed, a zero date still fails the read naming the
/// column and the value (through the rejects handle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_dates_are_dirty_data_naming_the_column() {
    let table = "ferry_t_zero_date";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!("CREATE TABLE {table} (id INT, born DATE)")).await;
    exec(&format!(
        "INSERT INTO {table} VALUES (1, '2000-01-01'), (2, '0000-00-00')"
    ))
    .await;
    let err = read_all(&source(table), 1 << 20).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DirtyData, "{err}");
    assert!(
        err.to_string().contains("`born`") && err.to_string().contains("0000-00-00"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_without_an_arrow_form_are_rejected_rows_and_the_read_goes_on() {
    let table = "ferry_t_zero_rows";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, born DATE NOT NULL, seen DATETIME(3), t TIME)"
    ))
    .await;
    exec(&format!(
        "INSERT INTO {table} VALUES
           (1, '2000-01-01', '2000-01-01 10:00:00.5', '10:00:00'),
           (2, '0000-00-00', '2000-01-01 10:00:00', '10:00:00'),
           (3, '2020-00-15', NULL, NULL),
           (4, '2020-01-01', '0000-00-00 00:00:00', NULL),
           (5, '2020-01-02', '2020-01-00 00:00:00', '12:00:00'),
           (6, '2020-01-03', NULL, '838:59:59'),
           (7, '2020-01-04', NULL, '-01:00:00'),
           (8, '2020-01-05', NULL, NULL)"
    ))
    .await;
    let seen = Arc::new(Collect::default());
    let (_, batches) = read_all_with(&source(table), 64, &Rejects::new(seen.clone()))
        .await
        .unwrap();
    let ids: Vec<i32> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec())
        .collect();
    // TIME holds ±838:59:59: those rows are read, not rejected.
    assert_eq!(ids, vec![1, 6, 7, 8]);
    let times: Vec<Option<i64>> = batches
        .iter()
        .flat_map(|b| {
            let t = b.column_by_name("t").unwrap();
            let t = t.as_primitive::<Time64MicrosecondType>();
            (0..t.len())
                .map(|i| t.is_valid(i).then(|| t.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        times,
        vec![
            Some(36_000_000_000),
            Some(3_020_399_000_000),
            Some(-3_600_000_000),
            None
        ]
    );
    let rejected = seen.0.lock().unwrap().clone();
    let got: Vec<(&str, &str, &str)> = rejected
        .iter()
        .map(|r| {
            assert_eq!(r.reason, ferry_core::spec::DirtyReason::Conversion, "{r:?}");
            let raw = r.row[&r.column].as_str().unwrap();
            assert!(r.message.contains(raw), "{r:?}");
            (r.position.as_str(), r.column.as_str(), raw)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("id=2", "born", "0000-00-00"),
            ("id=3", "born", "2020-00-15"),
            ("id=4", "seen", "0000-00-00 00:00:00.000"),
            ("id=5", "seen", "2020-01-00 00:00:00.000"),
        ]
    );
    // The other values of a rejected row are in its JSON.
    assert_eq!(rejected[0].row["seen"], "2000-01-01T10:00:00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_read_half_way_stops_the_server() {
    let table = "ferry_t_read_cancel";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, s VARCHAR(100))"
    ))
    .await;
    exec(&format!(
        "INSERT INTO {table} SELECT seq, REPEAT('y', 100) FROM seq_1_to_50000"
    ))
    .await;
    let src = source(table);
    let schema = src.schema().await.unwrap();
    let options = ReadOptions {
        readers: 1,
        columns: vec!["s".into(), "id".into()],
        max_splits: 1,
        min_rows_per_split: 1,
        batch_bytes: 2048,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = src.open_read(&schema, &options).await.unwrap();
    let mut stream = session
        .read_split(&session.splits()[0], &Rejects::strict())
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.schema().field(0).name(), "s");
    drop(stream);
    let busy = session
        .read_split(&session.splits()[0], &Rejects::strict())
        .await;
    assert!(busy.is_err(), "the snapshot was lost with the stopped read");
    tokio::time::timeout(std::time::Duration::from_secs(30), session.close())
        .await
        .expect("close does not hang")
        .unwrap();
}

/// A schema covering every column type the sink writes.
fn write_schema() -> TableSchema {
    TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("flag", ColumnType::Bool, true),
            col("small", ColumnType::Int16, true),
            col("num", ColumnType::Int32, true),
            col("f32", ColumnType::Float32, true),
            col("f64", ColumnType::Float64, true),
            col(
                "dec",
                ColumnType::Decimal {
                    precision: 12,
                    scale: 3,
                },
                true,
            ),
            col("dtext", ColumnType::DecimalText, true),
            col(
                "name",
                ColumnType::Text {
                    max_chars: Some(20),
                    fixed: false,
                },
                true,
            ),
            col(
                "code",
                ColumnType::Text {
                    max_chars: Some(3),
                    fixed: true,
                },
                true,
            ),
            col(
                "body",
                ColumnType::Text {
                    max_chars: None,
                    fixed: false,
                },
                true,
            ),
            col("bin", ColumnType::Binary, true),
            col("day", ColumnType::Date, true),
            col("tod", ColumnType::Time, true),
            col("ts", ColumnType::Timestamp, true),
            col("tstz", ColumnType::TimestampTz, true),
            col("uid", ColumnType::Uuid, true),
            col("doc", ColumnType::Json, true),
        ],
        primary_key: vec!["id".into()],
    }
}

const UUID1: [u8; 16] = [
    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
];

/// Rows with ids `ids`: id%3==1 extremes, id%3==2 NULLs, id%3==0 edge values.
fn write_batch(ids: impl IntoIterator<Item = i64>) -> RecordBatch {
    let ids: Vec<i64> = ids.into_iter().collect();
    let pick = |id: i64| id % 3;
    macro_rules! column {
        ($array:ty, $one:expr, $zero:expr) => {
            Arc::new(
                ids.iter()
                    .map(|&id| match pick(id) {
                        1 => Some($one),
                        2 => None,
                        _ => Some($zero),
                    })
                    .collect::<$array>(),
            ) as ArrayRef
        };
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        column!(BooleanArray, true, false),
        column!(Int16Array, i16::MIN, i16::MAX),
        column!(Int32Array, i32::MIN, i32::MAX),
        column!(Float32Array, 0.1f32, -2.5f32),
        column!(Float64Array, 1e308, 2.5),
        Arc::new(
            ids.iter()
                .map(|&id| match pick(id) {
                    1 => Some(-123_456_789_123i128),
                    2 => None,
                    _ => Some(0),
                })
                .collect::<Decimal128Array>()
                .with_precision_and_scale(12, 3)
                .unwrap(),
        ),
        column!(
            StringArray,
            "123456789012345678901234567890123456789012.5",
            "0"
        ),
        column!(StringArray, "hé😀 tab\there", ""),
        column!(StringArray, "ab", ""),
        column!(StringArray, "line1\nline2\\end\0nul \\N", ""),
        Arc::new(
            ids.iter()
                .map(|&id| match pick(id) {
                    1 => Some(&[0u8, 0xff, 9, 10][..]),
                    2 => None,
                    _ => Some(&[][..]),
                })
                .collect::<BinaryArray>(),
        ),
        column!(Date32Array, 0, 2_932_896),
        column!(Time64MicrosecondArray, 1, 86_399_999_999),
        column!(
            TimestampMicrosecondArray,
            1_709_210_096_789_012,
            -62_135_596_800_000_000
        ),
        Arc::new(
            ids.iter()
                .map(|&id| match pick(id) {
                    1 => Some(2_147_483_648_000_000),
                    2 => None,
                    _ => Some(-500_000),
                })
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                ids.iter().map(|&id| match pick(id) {
                    1 => Some(UUID1),
                    2 => None,
                    _ => Some([0u8; 16]),
                }),
                16,
            )
            .unwrap(),
        ),
        column!(StringArray, r#"{"k": "v"}"#, "[]"),
    ];
    RecordBatch::try_new(write_schema().arrow_schema(), arrays).unwrap()
}

const READ_BACK: &str = "SELECT id, flag, small, num, f32 * 1e0, f64, `dec`, dtext, name, code, body, HEX(bin), \
     day, tod, ts, tstz, uid, doc FROM {t} ORDER BY id";

fn expected_row(id: i64) -> Vec<Option<String>> {
    let s = |v: &str| Some(v.to_string());
    let mut row = vec![s(&id.to_string())];
    row.extend(match id % 3 {
        1 => vec![
            s("1"),
            s("-32768"),
            s("-2147483648"),
            s("0.10000000149011612"),
            s("1e308"),
            s("-123456789.123"),
            s("123456789012345678901234567890123456789012.5"),
            s("hé😀 tab\there"),
            s("ab"),
            s("line1\nline2\\end\0nul \\N"),
            s("00FF090A"),
            s("1970-01-01"),
            s("00:00:00.000001"),
            s("2024-02-29 12:34:56.789012"),
            s("2038-01-19 03:14:08.000000"),
            s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            s(r#"{"k": "v"}"#),
        ],
        2 => vec![None; 17],
        _ => vec![
            s("0"),
            s("32767"),
            s("2147483647"),
            s("-2.5"),
            s("2.5"),
            s("0.000"),
            s("0"),
            s(""),
            s(""),
            s(""),
            s(""),
            s("9999-12-31"),
            s("23:59:59.999999"),
            s("0001-01-01 00:00:00.000000"),
            s("1969-12-31 23:59:59.500000"),
            s("00000000-0000-0000-0000-000000000000"),
            s("[]"),
        ],
    });
    row
}

async fn write(table: &str, mode: SyncMode, batches: Vec<RecordBatch>) -> ferry_core::Result<u64> {
    let mut w = sink(table).prepare(&write_schema(), mode).await?;
    match w.write_all(stream_of(batches), &Rejects::strict()).await {
        Ok(_) => w.commit().await,
        Err(e) => {
            w.abort().await?;
            Err(e)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_overwrite_and_append_exactly() {
    let table = "ferry_t_write_modes";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    let read_back = READ_BACK.replace("{t}", table);

    // Overwrite into a missing target creates it from the schema.
    let w = sink(table)
        .prepare(&write_schema(), SyncMode::FullOverwrite)
        .await
        .unwrap();
    assert!(w.target_plan().creates_table);
    let ddl = w.target_plan().ddl.clone().unwrap();
    assert!(
        ddl.contains("`dtext` LONGTEXT")
            && ddl.contains("`tstz` DATETIME(6)")
            && ddl.contains("PRIMARY KEY (`id`)"),
        "{ddl}"
    );
    w.abort().await.unwrap();
    assert!(!table_exists(table).await);

    assert_eq!(
        write(table, SyncMode::FullOverwrite, vec![write_batch(1..=3)])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        rows(&read_back).await,
        (1..=3).map(expected_row).collect::<Vec<_>>()
    );

    // Append into the existing target, in two batches.
    assert_eq!(
        write(
            table,
            SyncMode::FullAppend,
            vec![write_batch(4..=5), write_batch(6..=6)]
        )
        .await
        .unwrap(),
        3
    );
    assert_eq!(
        rows(&read_back).await,
        (1..=6).map(expected_row).collect::<Vec<_>>()
    );

    // Overwrite an existing target: only the new rows remain, no helper tables.
    assert_eq!(
        write(table, SyncMode::FullOverwrite, vec![write_batch(10..=12)])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        rows(&read_back).await,
        (10..=12).map(expected_row).collect::<Vec<_>>()
    );
    assert!(!table_exists(&format!("_ferry_stg_{table}")).await);
    assert!(!table_exists(&format!("_ferry_old_{table}")).await);

    // Enough rows for many 1 MiB chunks.
    let n = write(
        table,
        SyncMode::FullOverwrite,
        vec![write_batch(1..=20_000), write_batch(20_001..=40_000)],
    )
    .await
    .unwrap();
    assert_eq!(n, 40_000);
    let agg = rows(&format!(
        "SELECT COUNT(*), SUM(id), SUM(LENGTH(body)), COUNT(uid) FROM {table}"
    ))
    .await;
    let sum_len: usize =
        (1..=40_000i64).filter(|i| i % 3 == 1).count() * "line1\nline2\\end\0nul \\N".len();
    assert_eq!(
        agg[0],
        vec![
            Some("40000".into()),
            Some("800020000".into()),
            Some(sum_len.to_string()),
            Some("26667".into())
        ]
    );

    // An empty input overwrites with an empty table.
    assert_eq!(
        write(table, SyncMode::FullOverwrite, vec![]).await.unwrap(),
        0
    );
    assert_eq!(
        rows(&format!("SELECT COUNT(*) FROM {table}")).await[0][0].as_deref(),
        Some("0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_mysql_to_mysql() {
    let from = "ferry_t_rt_from";
    let to = "ferry_t_rt_to";
    create_all_types(from).await;
    exec(&format!("DROP TABLE IF EXISTS {to}")).await;
    let src = source(from);
    let (schema, batches) = read_all(&src, 1 << 20).await.unwrap();
    let mut w = sink(to)
        .prepare(&schema, SyncMode::FullOverwrite)
        .await
        .unwrap();
    assert_eq!(
        w.write_all(stream_of(batches), &Rejects::strict())
            .await
            .unwrap(),
        3
    );
    assert_eq!(w.commit().await.unwrap(), 3);
    let cols = "id, b, ti, si, mi, i, bi, tiu, siu, miu, iu, biu, d, dw, f * 1e0, db, c, vc, tt, tx, \
                lt, HEX(bn), HEX(vb), HEX(bl), dt, tm, dtm, ts, j, u, y, e, st, bt + 0";
    let a = rows(&format!("SELECT {cols} FROM {from} ORDER BY id")).await;
    let b = rows(&format!("SELECT {cols} FROM {to} ORDER BY id")).await;
    assert_eq!(a, b);
    // The copy's own schema fits its source's schema (a second run appends).
    let mut w = sink(to)
        .prepare(&schema, SyncMode::FullAppend)
        .await
        .unwrap();
    assert!(!w.target_plan().creates_table);
    let err = w
        .write_all(
            stream_of(read_all(&src, 1 << 20).await.unwrap().1),
            &Rejects::strict(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::DirtyData,
        "duplicate keys are refused: {err}"
    );
    assert!(err.to_string().contains("Duplicate entry"), "{err}");
    w.abort().await.unwrap();
    assert_eq!(
        rows(&format!("SELECT COUNT(*) FROM {to}")).await[0][0].as_deref(),
        Some("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_writes_leave_the_target_unchanged() {
    let table = "ferry_t_abort";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    write(table, SyncMode::FullOverwrite, vec![write_batch(1..=3)])
        .await
        .unwrap();
    let before = rows(&READ_BACK.replace("{t}", table)).await;
    for mode in [SyncMode::FullOverwrite, SyncMode::FullAppend] {
        let mut w = sink(table).prepare(&write_schema(), mode).await.unwrap();
        w.write_all(stream_of(vec![write_batch(100..=200)]), &Rejects::strict())
            .await
            .unwrap();
        w.abort().await.unwrap();
        assert_eq!(
            rows(&READ_BACK.replace("{t}", table)).await,
            before,
            "{mode}"
        );
        assert!(
            !table_exists(&format!("_ferry_stg_{table}")).await,
            "{mode}"
        );
    }
    // A writer dropped without commit or abort (a killed run) leaves debris
    // that the next prepare drops; the target is unchanged meanwhile.
    let mut w = sink(table)
        .prepare(&write_schema(), SyncMode::FullOverwrite)
        .await
        .unwrap();
    w.write_all(stream_of(vec![write_batch(100..=200)]), &Rejects::strict())
        .await
        .unwrap();
    drop(w);
    assert_eq!(rows(&READ_BACK.replace("{t}", table)).await, before);
    // The dropped session goes away in the background; wait for its lock.
    for _ in 0..100 {
        let free = rows(&format!("SELECT IS_FREE_LOCK('ferry:test.{table}')")).await;
        if free[0][0].as_deref() == Some("1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    write(table, SyncMode::FullOverwrite, vec![write_batch(4..=4)])
        .await
        .unwrap();
    assert_eq!(
        rows(&READ_BACK.replace("{t}", table)).await,
        vec![expected_row(4)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_the_target_cannot_hold_fail_naming_the_column() {
    let table = "ferry_t_too_long";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(5) NOT NULL)"
    ))
    .await;
    exec(&format!("INSERT INTO {table} VALUES (1, 'keep')")).await;
    // The schema claims 5 characters; the data does not keep the promise.
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col(
                "name",
                ColumnType::Text {
                    max_chars: Some(5),
                    fixed: false,
                },
                true,
            ),
        ],
        primary_key: vec![],
    };
    let cases: [(&str, Option<&str>); 2] = [
        ("twenty characters!!!", Some("twenty characters!!!")),
        ("null", None),
    ];
    for (what, value) in cases {
        for mode in [SyncMode::FullOverwrite, SyncMode::FullAppend] {
            let batch = RecordBatch::try_new(
                schema.arrow_schema(),
                vec![
                    Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef,
                    Arc::new(StringArray::from(vec![Some("ok"), value])),
                ],
            )
            .unwrap();
            let mut w = sink(table).prepare(&schema, mode).await.unwrap();
            let err = w
                .write_all(stream_of(vec![batch]), &Rejects::strict())
                .await
                .unwrap_err();
            w.abort().await.unwrap();
            assert_eq!(err.kind(), ErrorKind::DirtyData, "{what} {mode}: {err}");
            match &err {
                Error::DirtyData { column, .. } => assert_eq!(column, "name", "{err}"),
                other => panic!("{other}"),
            }
            assert_eq!(
                rows(&format!("SELECT id, name FROM {table}")).await,
                vec![vec![Some("1".into()), Some("keep".into())]],
                "{what} {mode}"
            );
            assert!(!table_exists(&format!("_ferry_stg_{table}")).await);
        }
    }
    // NaN cannot be stored: the encoder refuses it before the server sees it.
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("x", ColumnType::Float64, true),
        ],
        primary_key: vec![],
    };
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            Arc::new(Float64Array::from(vec![f64::NAN])),
        ],
    )
    .unwrap();
    exec("DROP TABLE IF EXISTS ferry_t_nan").await;
    let mut w = sink("ferry_t_nan")
        .prepare(&schema, SyncMode::FullOverwrite)
        .await
        .unwrap();
    let err = w
        .write_all(stream_of(vec![batch]), &Rejects::strict())
        .await
        .unwrap_err();
    w.abort().await.unwrap();
    assert!(
        matches!(&err, Error::DirtyData { column, .. } if column == "x"),
        "{err}"
    );
    assert!(!table_exists("ferry_t_nan").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_targets_name_every_column() {
    let table = "ferry_t_incompatible";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id INT, name VARCHAR(10), amount DECIMAL(5,2), ok TEXT, extra INT NOT NULL, filled INT NOT NULL DEFAULT 0)"
    ))
    .await;
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            ColumnDef {
                native_type: "varchar(50)".into(),
                dialect: None,
                ..col(
                    "name",
                    ColumnType::Text {
                        max_chars: Some(50),
                        fixed: false,
                    },
                    true,
                )
            },
            col(
                "amount",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
            col(
                "ok",
                ColumnType::Text {
                    max_chars: Some(50),
                    fixed: false,
                },
                true,
            ),
            col("gone", ColumnType::Int32, true),
        ],
        primary_key: vec![],
    };
    for mode in [SyncMode::FullOverwrite, SyncMode::FullAppend] {
        let err = sink(table).prepare(&schema, mode).await.err().unwrap();
        let Error::Schema { table: t, problems } = &err else {
            panic!("{err}")
        };
        assert_eq!(t, &format!("{}.{table}", db()));
        // `id` and `name` go into narrower integer/varchar columns: allowed,
        // with each value checked by the engine's conform step (dirty data).
        assert_eq!(problems.len(), 3, "{problems:?}");
        for (p, name) in problems.iter().zip(["amount", "gone", "extra"]) {
            assert!(p.starts_with(&format!("column `{name}`")), "{p}");
        }
        assert!(
            problems.contains(
                &"column `amount`: source decimal(10,2) does not fit target decimal(5,2)"
                    .to_string()
            ),
            "{problems:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_classified_without_the_password() {
    let mut u = url::Url::parse(&url()).unwrap();
    u.set_password(Some("wrong-s3cret")).unwrap();
    let ep = SqlEndpoint {
        connection: None,
        url: u.to_string(),
        password_env: None,
        table: "t".into(),
    };
    let err = MysqlSource::new(&ep, &name("t"))
        .unwrap()
        .schema()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = MysqlSink::new(&ep, &name("t"))
        .unwrap()
        .prepare(&write_schema(), SyncMode::FullAppend)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");

    let mut refused = url::Url::parse(&url()).unwrap();
    refused.set_port(Some(1)).unwrap();
    let ep = SqlEndpoint {
        url: refused.to_string(),
        ..ep
    };
    let err = MysqlSource::new(&ep, &name("t"))
        .unwrap()
        .schema()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tables_are_not_found_with_a_hint() {
    exec("CREATE TABLE IF NOT EXISTS ferry_t_present (id INT)").await;
    let err = source("ferry_t_absent").schema().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}.ferry_t_absent", db()))
            && msg.contains(&format!("database `{}` has: ", db())),
        "{msg}"
    );
    let err = source("ferry_no_such_db.t").schema().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .contains("database `ferry_no_such_db` does not exist"),
        "{err}"
    );
    let err = sink("ferry_no_such_db.t")
        .prepare(&write_schema(), SyncMode::FullOverwrite)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_target_and_interrupted_writes_clean_up() {
    let table = "ferry_t_writer_lock";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    write(table, SyncMode::FullOverwrite, vec![write_batch(1..=3)])
        .await
        .unwrap();
    let before = rows(&READ_BACK.replace("{t}", table)).await;

    let mut first = sink(table)
        .prepare(&write_schema(), SyncMode::FullOverwrite)
        .await
        .unwrap();
    let err = sink(table)
        .prepare(&write_schema(), SyncMode::FullAppend)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("another run"), "{err}");

    // A write cut off mid-LOAD (its future dropped) leaves a session that
    // abort() kills; the staging table goes, the target stays.
    let endless = futures::stream::iter(vec![Ok(write_batch(100..=200))])
        .chain(futures::stream::pending())
        .boxed();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        first.write_all(endless, &Rejects::strict()),
    )
    .await;
    assert!(cut.is_err(), "the write waits for more input");
    assert!(
        first
            .write_all(stream_of(vec![]), &Rejects::strict())
            .await
            .is_err()
    );
    tokio::time::timeout(std::time::Duration::from_secs(30), first.abort())
        .await
        .expect("abort does not hang")
        .unwrap();
    assert_eq!(rows(&READ_BACK.replace("{t}", table)).await, before);
    assert!(!table_exists(&format!("_ferry_stg_{table}")).await);
    // The lock is free again.
    write(table, SyncMode::FullAppend, vec![write_batch(4..=4)])
        .await
        .unwrap();
    assert_eq!(
        rows(&format!("SELECT COUNT(*) FROM {table}")).await[0][0].as_deref(),
        Some("4")
    );
}

/// Writes `batches` described by `schema` through the sink and commits.
async fn write_schema_batches(
    table: &str,
    schema: &TableSchema,
    mode: SyncMode,
    batches: Vec<RecordBatch>,
) -> ferry_core::Result<u64> {
    let mut w = sink(table).prepare(schema, mode).await?;
    match w.write_all(stream_of(batches), &Rejects::strict()).await {
        Ok(_) => w.commit().await,
        Err(e) => {
            w.abort().await?;
            Err(e)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bits_years_enums_and_sets_read_exactly_and_take_values_back() {
    let table = "ferry_t_bits_enums";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    exec(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, b1 BIT(1), b8 BIT(8), b63 BIT(63), b64 BIT(64), \
         y YEAR, e ENUM('a','b c','ü'), s SET('x','y','z'))"
    ))
    .await;
    exec(&format!(
        "INSERT INTO {table} VALUES
         (1, b'1', b'10000001', b'{}', b'{}', 2155, 'b c', 'x,z'),
         (2, b'0', 0, 0, 0, 1901, 'ü', ''),
         (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "1".repeat(63),
        "1".repeat(64)
    ))
    .await;
    let (schema, batches) = read_all(&source(table), 1 << 20).await.unwrap();
    let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.ty.clone()).collect();
    let text = ColumnType::Text {
        max_chars: None,
        fixed: false,
    };
    assert_eq!(
        types,
        vec![
            ColumnType::Int32,
            ColumnType::Bool,
            ColumnType::Int64,
            ColumnType::Int64,
            ColumnType::Decimal {
                precision: 20,
                scale: 0
            },
            ColumnType::Int16,
            text.clone(),
            text.clone(),
        ]
    );
    let b = &batches[0];
    let c = |n: &str| b.column_by_name(n).unwrap().clone();
    let b1 = c("b1");
    let b1 = b1.as_boolean();
    assert!(b1.value(0) && !b1.value(1) && b1.is_null(2));
    assert_eq!(c("b8").as_primitive::<Int64Type>().value(0), 129);
    assert_eq!(c("b63").as_primitive::<Int64Type>().value(0), i64::MAX);
    assert_eq!(
        c("b64").as_primitive::<Decimal128Type>().value(0),
        u64::MAX as i128
    );
    assert_eq!(c("y").as_primitive::<Int16Type>().value(0), 2155);
    assert_eq!(c("e").as_string::<i32>().value(0), "b c");
    assert_eq!(c("e").as_string::<i32>().value(1), "ü");
    assert_eq!(c("s").as_string::<i32>().value(0), "x,z");
    assert_eq!(c("s").as_string::<i32>().value(1), "");

    // The same table as a target: bools into BIT(1), integers into BIT(n),
    // years, and labels into ENUM/SET (the server checks each label).
    let write_schema = TableSchema {
        table: "t".into(),
        columns: vec![
            col("id", ColumnType::Int32, false),
            col("b1", ColumnType::Bool, true),
            col("b8", ColumnType::Int64, true),
            col("y", ColumnType::Int16, true),
            col("e", text.clone(), true),
            col("s", text.clone(), true),
        ],
        primary_key: vec!["id".into()],
    };
    let batch = |ids: Vec<i32>, b8: Vec<Option<i64>>, e: Vec<Option<&str>>| {
        let n = ids.len();
        RecordBatch::try_new(
            write_schema.arrow_schema(),
            vec![
                Arc::new(Int32Array::from(ids)) as ArrayRef,
                Arc::new(BooleanArray::from(
                    (0..n).map(|i| Some(i % 2 == 0)).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(b8)),
                Arc::new(Int16Array::from(vec![Some(1999); n])),
                Arc::new(StringArray::from(e)),
                Arc::new(StringArray::from(vec![Some("z,x"); n])),
            ],
        )
        .unwrap()
    };
    write_schema_batches(
        table,
        &write_schema,
        SyncMode::FullAppend,
        vec![batch(
            vec![4, 5],
            vec![Some(255), None],
            vec![Some("a"), Some("ü")],
        )],
    )
    .await
    .unwrap();
    let q = format!("SELECT id, b1 + 0, b8 + 0, y, e, s FROM {table} WHERE id >= 4 ORDER BY id");
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows(&q).await,
        vec![
            vec![s("4"), s("1"), s("255"), s("1999"), s("a"), s("x,z")],
            vec![s("5"), s("0"), None, s("1999"), s("ü"), s("x,z")],
        ]
    );
    // A label the enum does not have, or a number too wide for BIT(8): refused, nothing kept.
    for (b8, e) in [(Some(1), "nope"), (Some(256), "a")] {
        let err = write_schema_batches(
            table,
            &write_schema,
            SyncMode::FullAppend,
            vec![batch(vec![6], vec![b8], vec![Some(e)])],
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirtyData, "{err}");
        let column = if e == "nope" { "`e`" } else { "`b8`" };
        assert!(err.to_string().contains(column), "{err}");
    }
    assert_eq!(
        rows(&format!("SELECT COUNT(*) FROM {table}")).await[0][0].as_deref(),
        Some("5")
    );
}

/// Intervals and lists (from PostgreSQL) have no MySQL/MariaDB type: Ferry
/// creates `LONGTEXT` holding ISO 8601 durations and `JSON` holding arrays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_and_lists_are_stored_as_iso_and_json_text() {
    use arrow::array::{IntervalMonthDayNanoArray, ListArray, ListBuilder, StringBuilder};
    use arrow::datatypes::IntervalMonthDayNano;

    let table = "ferry_t_textforms";
    exec(&format!("DROP TABLE IF EXISTS {table}")).await;
    let text = ColumnType::Text {
        max_chars: None,
        fixed: false,
    };
    let schema = TableSchema {
        table: "t".into(),
        columns: vec![
            col("id", ColumnType::Int32, false),
            col("iv", ColumnType::Interval, true),
            col("li", ColumnType::list(ColumnType::Int32), true),
            col("lt", ColumnType::list(text.clone()), true),
        ],
        primary_key: vec!["id".into()],
    };
    let mut lt = ListBuilder::new(StringBuilder::new());
    for v in [Some("a\"b"), Some("c,d"), None, Some("tab\t☃ \\")] {
        lt.values().append_option(v);
    }
    lt.append(true);
    lt.append(true);
    lt.append(false);
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int32Array::from(vec![1, 2, 3])),
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(14, 3, 14_706_789_000_000)),
                Some(IntervalMonthDayNano::new(0, -1, 0)),
                None,
            ])),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(-3)]),
                Some(vec![]),
                None,
            ])),
            Arc::new(lt.finish()),
        ],
    )
    .unwrap();
    write_schema_batches(table, &schema, SyncMode::FullOverwrite, vec![batch])
        .await
        .unwrap();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows(&format!(
            "SELECT id, iv, li, lt, JSON_VALID(li) AND JSON_VALID(lt) FROM {table} ORDER BY id"
        ))
        .await,
        vec![
            vec![
                s("1"),
                s("P1Y2M3DT4H5M6.789S"),
                s("[1,null,-3]"),
                s(r#"["a\"b","c,d",null,"tab\t☃ \\"]"#),
                s("1")
            ],
            vec![s("2"), s("P-1D"), s("[]"), s("[]"), s("1")],
            vec![s("3"), None, None, None, None],
        ]
    );
    let (back, _) = read_all(&source(table), 1 << 20).await.unwrap();
    let types: Vec<ColumnType> = back.columns.iter().map(|c| c.ty.clone()).collect();
    assert_eq!(
        types,
        vec![ColumnType::Int32, text, ColumnType::Json, ColumnType::Json]
    );
}

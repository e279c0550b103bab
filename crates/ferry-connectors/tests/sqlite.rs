//! The SQLite connector against real database files in the temp directory.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

use ferry_core::Rejects;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use ferry_connectors::sqlite::SqliteEndpoint;
use ferry_connectors::sqlite::{SqliteSink, SqliteSource};
use ferry_core::connector::ReadOptions;
use ferry_core::spec::{SyncMode, TableName};
use ferry_core::{ColumnDef, ColumnType, Error, Sink, Source, TableSchema};
use futures::{StreamExt, stream};

/// A database file in the temp directory, removed (with its journals) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let file = format!(
            "ferry-sqlite-{name}-{}-{nanos}-{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        TempDb(std::env::temp_dir().join(file))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.0).unwrap()
    }

    fn source(&self, table: &str) -> SqliteSource {
        let (e, t) = endpoint(self.path(), table);
        SqliteSource::new(&e, &t).unwrap()
    }

    fn sink(&self, table: &str) -> SqliteSink {
        let (e, t) = endpoint(self.path(), table);
        SqliteSink::new(&e, &t).unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn endpoint(path: &Path, table: &str) -> (SqliteEndpoint, TableName) {
    let e = SqliteEndpoint {
        connection: None,
        path: path.to_path_buf(),
        table: table.into(),
    };
    (e, TableName::parse("table", table).unwrap())
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

fn text() -> ColumnType {
    ColumnType::Text {
        max_chars: None,
        fixed: false,
    }
}

/// Reads the whole table through the source; returns its schema and batches.
async fn read_all(
    db: &TempDb,
    table: &str,
    batch_bytes: usize,
) -> Result<(TableSchema, Vec<RecordBatch>), Error> {
    read_all_with(db, table, batch_bytes, &Rejects::strict()).await
}

/// Collects rejected rows (dirty rows allowed).
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<ferry_core::Rejected>>);

impl ferry_core::reject::RejectSink for Collect {
    fn reject(&self, row: ferry_core::Rejected) -> Result<(), Error> {
        self.0.lock().unwrap().push(row);
        Ok(())
    }

    fn accepts_rows(&self) -> bool {
        true
    }
}

async fn read_all_with(
    db: &TempDb,
    table: &str,
    batch_bytes: usize,
    rejects: &Rejects,
) -> Result<(TableSchema, Vec<RecordBatch>), Error> {
    let source = db.source(table);
    let schema = source.schema().await?;
    let options = ReadOptions {
        readers: 1,
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        max_splits: 8,
        min_rows_per_split: 1,
        batch_bytes,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = source.open_read(&schema, &options).await?;
    assert_eq!(session.splits().len(), 1);
    let split = session.splits()[0].clone();
    let batches: Vec<RecordBatch> = session
        .read_split(&split, rejects)
        .await?
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    session.close().await?;
    Ok((schema, batches))
}

/// Writes `batches` through the sink and commits.
async fn write(
    db: &TempDb,
    table: &str,
    schema: &TableSchema,
    batches: Vec<RecordBatch>,
    mode: SyncMode,
) -> Result<u64, Error> {
    let mut writer = db.sink(table).prepare(schema, mode).await?;
    let input = stream::iter(batches.into_iter().map(Ok)).boxed();
    match writer.write_all(input, &Rejects::strict()).await {
        Ok(_) => writer.commit().await,
        Err(e) => {
            writer.abort().await?;
            Err(e)
        }
    }
}

fn concat(batches: &[RecordBatch]) -> Vec<ArrayRef> {
    assert!(!batches.is_empty());
    let batch = arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap();
    batch.columns().to_vec()
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            a.values().to_vec()
        })
        .collect()
}

fn simple_schema() -> TableSchema {
    TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("name", text(), true),
        ],
        primary_key: vec!["id".into()],
    }
}

fn simple_batch(ids: &[i64]) -> RecordBatch {
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        simple_schema().arrow_schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

const DAY_MICROS: i64 = 86_400_000_000;
const MIN_DAY: i32 = -719_162; // 0001-01-01
const MAX_DAY: i32 = 2_932_896; // 9999-12-31

fn all_types_schema() -> TableSchema {
    let d = |precision, scale| ColumnType::Decimal { precision, scale };
    TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("b", ColumnType::Bool, true),
            col("i16", ColumnType::Int16, true),
            col("i32", ColumnType::Int32, true),
            col("i64", ColumnType::Int64, true),
            col("f32", ColumnType::Float32, true),
            col("f64", ColumnType::Float64, true),
            col("d38", d(38, 10), true),
            col("d12", d(12, 2), true),
            col("dtext", ColumnType::DecimalText, true),
            col("t", text(), true),
            col(
                "vc",
                ColumnType::Text {
                    max_chars: Some(20),
                    fixed: false,
                },
                true,
            ),
            col(
                "ch",
                ColumnType::Text {
                    max_chars: Some(3),
                    fixed: true,
                },
                true,
            ),
            col("bin", ColumnType::Binary, true),
            col("date", ColumnType::Date, true),
            col("time", ColumnType::Time, true),
            col("ts", ColumnType::Timestamp, true),
            col("tstz", ColumnType::TimestampTz, true),
            col("uuid", ColumnType::Uuid, true),
            col("json", ColumnType::Json, true),
        ],
        primary_key: vec!["id".into()],
    }
}

/// Four rows: minimum extremes, maximum extremes, ordinary unicode values, all NULLs.
fn all_types_batch() -> RecordBatch {
    let max38 = 10i128.pow(38) - 1;
    let big_text = "ü😀".repeat(1 << 18); // 1.5 MB, 4-byte characters
    let big_blob: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let uuid = [
        0xa0u8, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    let max_ts = i64::from(MAX_DAY) * DAY_MICROS + DAY_MICROS - 1;
    let min_ts = i64::from(MIN_DAY) * DAY_MICROS;
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
        Arc::new(BooleanArray::from(vec![
            Some(false),
            Some(true),
            Some(true),
            None,
        ])),
        Arc::new(Int16Array::from(vec![
            Some(i16::MIN),
            Some(i16::MAX),
            Some(0),
            None,
        ])),
        Arc::new(Int32Array::from(vec![
            Some(i32::MIN),
            Some(i32::MAX),
            Some(-1),
            None,
        ])),
        Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(i64::MAX),
            Some(42),
            None,
        ])),
        Arc::new(Float32Array::from(vec![
            Some(f32::MIN),
            Some(f32::INFINITY),
            Some(0.1),
            None,
        ])),
        Arc::new(Float64Array::from(vec![
            Some(f64::NEG_INFINITY),
            Some(f64::MAX),
            Some(f64::MIN_POSITIVE),
            None,
        ])),
        Arc::new(
            Decimal128Array::from(vec![
                Some(-max38),
                Some(max38),
                Some(1_234_567_890_123_456_789),
                None,
            ])
            .with_precision_and_scale(38, 10)
            .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![
                Some(-999_999_999_999),
                Some(999_999_999_999),
                Some(1),
                None,
            ])
            .with_precision_and_scale(12, 2)
            .unwrap(),
        ),
        Arc::new(StringArray::from(vec![
            Some("-123456789012345678901234567890123456789012345.123456789"),
            Some("0.10"),
            Some("1.50"),
            None,
        ])),
        Arc::new(StringArray::from(vec![
            Some(""),
            Some(big_text.as_str()),
            Some("Grüße 😀👍🏽 中文 \"q\" 'a'"),
            None,
        ])),
        Arc::new(StringArray::from(vec![
            Some(""),
            Some("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"),
            Some("ü"),
            None,
        ])),
        Arc::new(StringArray::from(vec![
            Some("abc"),
            Some("😀😀😀"),
            Some("x"),
            None,
        ])),
        Arc::new(BinaryArray::from_opt_vec(vec![
            Some(&[][..]),
            Some(&big_blob[..]),
            Some(&[0u8, 255, 0][..]),
            None,
        ])),
        Arc::new(Date32Array::from(vec![
            Some(MIN_DAY),
            Some(MAX_DAY),
            Some(0),
            None,
        ])),
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(0),
            Some(DAY_MICROS - 1),
            Some(3_723_000_001),
            None,
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(min_ts),
            Some(max_ts),
            Some(1_700_000_000_123_456),
            None,
        ])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![Some(min_ts), Some(max_ts), Some(-1), None])
                .with_timezone("UTC"),
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                vec![Some([0u8; 16]), Some([0xff; 16]), Some(uuid), None].into_iter(),
                16,
            )
            .unwrap(),
        ),
        Arc::new(StringArray::from(vec![
            Some("1.50"),
            Some(r#"{"a":[1,2,{"b":"ü😀"}]}"#),
            Some("null"),
            None,
        ])),
    ];
    RecordBatch::try_new(all_types_schema().arrow_schema(), arrays).unwrap()
}

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let db = TempDb::new("types");
    let schema = all_types_schema();
    let batch = all_types_batch();
    // Two input batches, to reuse the prepared insert across batches.
    let written = write(
        &db,
        "all",
        &schema,
        vec![batch.slice(0, 2), batch.slice(2, 2)],
        SyncMode::FullOverwrite,
    )
    .await
    .unwrap();
    assert_eq!(written, 4);

    // Small batches on the way out: several batches, same values.
    let (read_schema, batches) = read_all(&db, "all", 64 * 1024).await.unwrap();
    assert!(
        batches.len() >= 2,
        "expected several batches, got {}",
        batches.len()
    );
    let got: Vec<(String, ColumnType, bool)> = read_schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.clone(), c.nullable))
        .collect();
    let want: Vec<(String, ColumnType, bool)> = schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.clone(), c.nullable))
        .collect();
    assert_eq!(got, want);
    assert_eq!(read_schema.primary_key, vec!["id".to_string()]);
    for ((field, a), b) in schema
        .columns
        .iter()
        .zip(concat(&batches))
        .zip(batch.columns())
    {
        assert_eq!(&a, b, "column {}", field.name);
    }

    // Wide decimals and JSON keep their text: TEXT affinity, not numbers.
    let conn = db.conn();
    let kinds: (String, String, String) = conn
        .query_row(
            "SELECT typeof(d38), typeof(json), typeof(d12) FROM \"all\" WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(kinds, ("text".into(), "text".into(), "real".into()));
}

#[tokio::test]
async fn discovers_the_schema() {
    let db = TempDb::new("schema");
    db.conn()
        .execute_batch(
            "CREATE TABLE \"Odd \"\"Name\"\"\" (
                a INTEGER, b VARCHAR(10) NOT NULL, c numeric(20, 4), d double precision,
                e DATETIME, f whatever, g, h TIMESTAMP WITH TIME ZONE,
                PRIMARY KEY (b, a));
             CREATE TABLE nr (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
             INSERT INTO nr VALUES ('b', x'01'), ('a', x'02');",
        )
        .unwrap();
    let schema = db.source(r#""odd ""name""""#).schema().await.unwrap();
    assert_eq!(schema.table, "Odd \"Name\"");
    assert_eq!(schema.primary_key, vec!["b".to_string(), "a".to_string()]);
    let types: Vec<(&str, ColumnType, bool)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.clone(), c.nullable))
        .collect();
    assert_eq!(
        types,
        vec![
            ("a", ColumnType::Int64, true),
            (
                "b",
                ColumnType::Text {
                    max_chars: Some(10),
                    fixed: false
                },
                false
            ),
            (
                "c",
                ColumnType::Decimal {
                    precision: 20,
                    scale: 4
                },
                true
            ),
            ("d", ColumnType::Float64, true),
            ("e", ColumnType::Timestamp, true),
            ("f", ColumnType::DecimalText, true),
            ("g", text(), true),
            ("h", ColumnType::TimestampTz, true),
        ]
    );
    assert_eq!(schema.columns[2].native_type, "numeric(20, 4)");

    // WITHOUT ROWID: key columns are NOT NULL, rows come in key order.
    let (schema, batches) = read_all(&db, "nr", 1 << 20).await.unwrap();
    assert!(!schema.columns[0].nullable);
    let keys = concat(&batches)[0].clone();
    assert_eq!(
        keys.as_any().downcast_ref::<StringArray>().unwrap(),
        &StringArray::from(vec!["a", "b"])
    );
}

#[tokio::test]
async fn empty_input_creates_an_empty_table() {
    let db = TempDb::new("empty");
    let schema = simple_schema();
    let empty = simple_batch(&[]);
    assert_eq!(
        write(&db, "t", &schema, vec![], SyncMode::FullOverwrite)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        write(&db, "t", &schema, vec![empty], SyncMode::FullAppend)
            .await
            .unwrap(),
        0
    );
    let (read_schema, batches) = read_all(&db, "t", 1 << 20).await.unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    assert_eq!(read_schema.columns.len(), 2);
    assert!(!read_schema.columns[0].nullable);
}

#[tokio::test]
async fn overwrite_replaces_and_append_adds() {
    let db = TempDb::new("modes");
    let schema = simple_schema();
    write(
        &db,
        "t",
        &schema,
        vec![simple_batch(&[1, 2, 3])],
        SyncMode::FullOverwrite,
    )
    .await
    .unwrap();
    // A user's index on the existing target survives an overwrite.
    db.conn()
        .execute_batch("CREATE INDEX t_name ON t (name)")
        .unwrap();
    assert_eq!(
        write(
            &db,
            "t",
            &schema,
            vec![simple_batch(&[7, 8])],
            SyncMode::FullOverwrite
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        ids(&read_all(&db, "t", 1 << 20).await.unwrap().1),
        vec![7, 8]
    );
    assert_eq!(
        write(
            &db,
            "t",
            &schema,
            vec![simple_batch(&[9]), simple_batch(&[10])],
            SyncMode::FullAppend
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        ids(&read_all(&db, "t", 1 << 20).await.unwrap().1),
        vec![7, 8, 9, 10]
    );
    let indexes: i64 = db
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 't_name'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 1);
    // Appending a duplicate key is dirty data naming the key column.
    let err = write(
        &db,
        "t",
        &schema,
        vec![simple_batch(&[11, 7])],
        SyncMode::FullAppend,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::DirtyData { column, .. } if column == "id"),
        "{err}"
    );
    assert_eq!(
        ids(&read_all(&db, "t", 1 << 20).await.unwrap().1),
        vec![7, 8, 9, 10]
    );
}

#[tokio::test]
async fn abort_and_drop_leave_the_target_unchanged() {
    let db = TempDb::new("abort");
    let schema = simple_schema();
    write(
        &db,
        "t",
        &schema,
        vec![simple_batch(&[1, 2])],
        SyncMode::FullOverwrite,
    )
    .await
    .unwrap();
    for mode in [SyncMode::FullOverwrite, SyncMode::FullAppend] {
        let mut w = db.sink("t").prepare(&schema, mode).await.unwrap();
        assert!(!w.target_plan().creates_table);
        w.write_all(
            stream::iter(vec![Ok(simple_batch(&[5, 6]))]).boxed(),
            &Rejects::strict(),
        )
        .await
        .unwrap();
        w.abort().await.unwrap();
        assert_eq!(
            ids(&read_all(&db, "t", 1 << 20).await.unwrap().1),
            vec![1, 2]
        );
        // A writer dropped without commit (a crash) rolls back too.
        let mut w = db.sink("t").prepare(&schema, mode).await.unwrap();
        w.write_all(
            stream::iter(vec![Ok(simple_batch(&[5, 6]))]).boxed(),
            &Rejects::strict(),
        )
        .await
        .unwrap();
        drop(w);
        assert_eq!(
            ids(&read_all(&db, "t", 1 << 20).await.unwrap().1),
            vec![1, 2]
        );
    }
    // A target created by an aborted run does not exist afterwards.
    let w = db
        .sink("new")
        .prepare(&schema, SyncMode::FullOverwrite)
        .await
        .unwrap();
    assert!(w.target_plan().creates_table);
    assert!(
        w.target_plan()
            .ddl
            .as_deref()
            .unwrap()
            .starts_with("CREATE TABLE \"new\"")
    );
    w.abort().await.unwrap();
    let err = db.source("new").schema().await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn incompatible_target_names_each_column() {
    let db = TempDb::new("incompatible");
    db.conn()
        .execute_batch(
            "CREATE TABLE t (ID SMALLINT, name VARCHAR(5), note TEXT, extra TEXT NOT NULL)",
        )
        .unwrap();
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col(
                "name",
                ColumnType::Text {
                    max_chars: Some(50),
                    fixed: false,
                },
                true,
            ),
            col("note", text(), true),
            col(
                "amount",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
        ],
        primary_key: vec![],
    };
    let err = db
        .sink("t")
        .prepare(&schema, SyncMode::FullAppend)
        .await
        .err()
        .unwrap();
    let Error::Schema { table, problems } = &err else {
        panic!("expected a schema error, got {err}");
    };
    assert_eq!(table, "t");
    assert_eq!(problems.len(), 4, "{problems:?}");
    for (p, name) in problems
        .iter()
        .zip(["`id`", "`name`", "`amount`", "`extra`"])
    {
        assert!(p.contains(name), "{p} should name {name}");
    }
    assert!(
        problems[0].contains("int64") && problems[0].contains("SMALLINT"),
        "{}",
        problems[0]
    );
}

#[tokio::test]
async fn missing_file_and_table_are_not_found() {
    let db = TempDb::new("missing");
    let err = db.source("t").schema().await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NotFound {
                what: "database file",
                ..
            }
        ),
        "{err}"
    );
    assert!(!db.path().exists(), "the source must not create the file");
    db.conn().execute_batch("CREATE TABLE other (x)").unwrap();
    let err = db.source("t").schema().await.unwrap_err();
    let Error::NotFound { what, name, hint } = &err else {
        panic!("expected not found, got {err}");
    };
    assert_eq!((*what, name.as_str()), ("table", "t"));
    assert!(hint.as_deref().unwrap().contains("other"), "{err}");
}

#[tokio::test]
async fn nan_is_dirty_data_naming_the_column() {
    let db = TempDb::new("nan");
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("ratio", ColumnType::Float64, true),
        ],
        primary_key: vec![],
    };
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Float64Array::from(vec![1.5, f64::NAN])),
        ],
    )
    .unwrap();
    let err = write(&db, "t", &schema, vec![batch], SyncMode::FullOverwrite)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DirtyData { column, message } if column == "ratio" && message.contains("row 2")),
        "{err}"
    );
    assert!(
        db.source("t").schema().await.is_err(),
        "the aborted run must not leave a table"
    );
}

#[tokio::test]
async fn wide_decimals_are_not_rounded_by_numeric_affinity() {
    let db = TempDb::new("affinity");
    db.conn()
        .execute_batch("CREATE TABLE t (d DECIMAL(38,10))")
        .unwrap();
    let schema = TableSchema {
        table: "src".into(),
        columns: vec![col(
            "d",
            ColumnType::Decimal {
                precision: 38,
                scale: 10,
            },
            true,
        )],
        primary_key: vec![],
    };
    let batch = |v: i128| {
        let a = Decimal128Array::from(vec![v])
            .with_precision_and_scale(38, 10)
            .unwrap();
        RecordBatch::try_new(schema.arrow_schema(), vec![Arc::new(a)]).unwrap()
    };
    // 12.5 and a whole number survive NUMERIC affinity; 28 significant digits do not.
    write(
        &db,
        "t",
        &schema,
        vec![
            batch(125_000_000_000),
            batch(12_345_678_901_234_567 * 10_000_000_000),
        ],
        SyncMode::FullAppend,
    )
    .await
    .unwrap();
    let (_, batches) = read_all(&db, "t", 1 << 20).await.unwrap();
    let d = concat(&batches)[0].clone();
    let want = Decimal128Array::from(vec![
        125_000_000_000,
        12_345_678_901_234_567 * 10_000_000_000,
    ])
    .with_precision_and_scale(38, 10)
    .unwrap();
    assert_eq!(d.as_any().downcast_ref::<Decimal128Array>().unwrap(), &want);
    let err = write(
        &db,
        "t",
        &schema,
        vec![batch(123_456_789_012_345_678_901_234_567)],
        SyncMode::FullAppend,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::DirtyData { column, .. } if column == "d"),
        "{err}"
    );
}

#[tokio::test]
async fn reads_what_other_tools_write_and_names_dirty_rows() {
    let db = TempDb::new("tools");
    db.conn()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, ts DATETIME, tz TIMESTAMPTZ, amount NUMERIC(10,2), u UUID);
             INSERT INTO t VALUES (1, 1, '2024-03-01T10:20:30', '2024-03-01 12:20:30+02:00', 12.5, x'a0eebc999c0b4ef8bb6d6bb9bd380a11');
             INSERT INTO t VALUES (2, 'true', '2024-03-01 10:20', '2024-03-01T10:20:30Z', '7', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');",
        )
        .unwrap();
    let (schema, batches) = read_all(&db, "t", 1 << 20).await.unwrap();
    assert!(
        !schema.columns[0].nullable,
        "an INTEGER PRIMARY KEY is never NULL"
    );
    let cols = concat(&batches);
    assert_eq!(
        cols[1].as_any().downcast_ref::<BooleanArray>().unwrap(),
        &BooleanArray::from(vec![true, true])
    );
    let ts = 1_709_288_430_000_000i64; // 2024-03-01 10:20:30
    let got = cols[2]
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(got.values().to_vec(), vec![ts, ts - 30_000_000]);
    let got = cols[3]
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(got.values().to_vec(), vec![ts, ts]);
    let got = cols[4].as_any().downcast_ref::<Decimal128Array>().unwrap();
    assert_eq!(got.values().to_vec(), vec![1250, 700]);
    let got = cols[5]
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .unwrap();
    assert_eq!(got.value(0), got.value(1));

    db.conn()
        .execute("INSERT INTO t (id, flag) VALUES (42, 'abc')", [])
        .unwrap();
    let err = read_all(&db, "t", 1 << 20).await.unwrap_err();
    assert!(
        matches!(&err, Error::DirtyData { column, message } if column == "flag" && message.contains("rowid 42") && message.contains("abc")),
        "{err}"
    );
}

#[tokio::test]
async fn values_that_are_not_their_type_are_rejected_rows_named_by_row_number() {
    let db = TempDb::new("rejects");
    db.conn()
        .execute_batch(
            "CREATE TABLE t (a INTEGER, s TEXT, d DATE, small SMALLINT);
             INSERT INTO t VALUES (1, 'x', '2020-01-01', 1);
             INSERT INTO t VALUES ('abc', 'y', '2020-01-02', 2);
             INSERT INTO t VALUES (3, CAST(x'ff41' AS TEXT), '2020-01-03', 3);
             INSERT INTO t VALUES (4, 'z', 'not a date', 4);
             INSERT INTO t VALUES (5, 'w', '2020-01-05', 70000);
             INSERT INTO t VALUES (6, 'v', '2020-01-06', 6);",
        )
        .unwrap();
    let seen = Arc::new(Collect::default());
    // One row per batch: row numbers count across batches.
    let (_, batches) = read_all_with(&db, "t", 1, &Rejects::new(seen.clone()))
        .await
        .unwrap();
    let a: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            col.values().to_vec()
        })
        .collect();
    assert_eq!(a, vec![1, 6]);
    use ferry_core::spec::DirtyReason::*;
    let got: Vec<_> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(
                r.message.contains(&format!("rowid {}", &r.position[4..])),
                "{r:?}"
            );
            (r.position.clone(), r.column.clone(), r.reason)
        })
        .collect();
    let want = [
        ("row 2", "a", Conversion),
        ("row 3", "s", Encoding),
        ("row 4", "d", Conversion),
        ("row 5", "small", Overflow),
    ]
    .map(|(p, c, r)| (p.to_string(), c.to_string(), r));
    assert_eq!(got, want.to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_the_reader() {
    let db = TempDb::new("cancel");
    db.conn()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
             INSERT INTO t SELECT i, printf('%050d', i) FROM n;",
        )
        .unwrap();
    let source = db.source("t");
    let schema = source.schema().await.unwrap();
    let options = ReadOptions {
        readers: 1,
        columns: vec!["id".into(), "s".into()],
        max_splits: 1,
        min_rows_per_split: 1,
        batch_bytes: 4096,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = source.open_read(&schema, &options).await.unwrap();
    assert_eq!(session.splits()[0].estimated_rows, Some(200_000));
    let split = session.splits()[0].clone();
    let mut batches = session
        .read_split(&split, &Rejects::strict())
        .await
        .unwrap();
    let first = batches.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0 && first.num_rows() < 200_000);
    drop(batches);
    // close() needs the connection back from the reader thread: it only
    // finishes if the reader stopped.
    tokio::time::timeout(std::time::Duration::from_secs(10), session.close())
        .await
        .expect("the reader kept running after the stream was dropped")
        .unwrap();
}

/// DECIMAL(p,s) with p ≤ 15 has NUMERIC affinity: SQLite turns the text into a
/// REAL. Every decimal of at most 15 digits must still read back exactly.
#[tokio::test]
async fn narrow_decimals_survive_real_storage() {
    let db = TempDb::new("narrow");
    let scales = [0u8, 2, 7, 15];
    let schema = TableSchema {
        table: "src".into(),
        columns: scales
            .iter()
            .map(|s| {
                col(
                    &format!("d{s}"),
                    ColumnType::Decimal {
                        precision: 15,
                        scale: *s,
                    },
                    false,
                )
            })
            .collect(),
        primary_key: vec![],
    };
    // xorshift: deterministic values of every length up to 15 digits.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let digits = (x % 15 + 1) as u32;
        let v = (x >> 8) as i128 % 10i128.pow(digits);
        if x & 1 == 0 { v } else { -v }
    };
    let rows = 20_000;
    let arrays: Vec<ArrayRef> = scales
        .iter()
        .map(|s| {
            let values: Vec<i128> = (0..rows).map(|_| next()).collect();
            Arc::new(
                Decimal128Array::from(values)
                    .with_precision_and_scale(15, *s as i8)
                    .unwrap(),
            ) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.arrow_schema(), arrays).unwrap();
    write(
        &db,
        "t",
        &schema,
        vec![batch.clone()],
        SyncMode::FullOverwrite,
    )
    .await
    .unwrap();
    let reals: i64 = db
        .conn()
        .query_row(
            "SELECT count(*) FROM t WHERE typeof(d7) = 'real'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reals > 0, "the values should be stored as REAL");
    let (_, batches) = read_all(&db, "t", 1 << 20).await.unwrap();
    for ((a, b), s) in concat(&batches).iter().zip(batch.columns()).zip(scales) {
        assert_eq!(a, b, "decimal(15,{s})");
    }
}

/// Intervals and lists (from PostgreSQL) have no SQLite type: they are stored
/// as ISO 8601 duration text and JSON array text, and read back as text/json.
#[tokio::test]
async fn intervals_and_lists_are_stored_as_iso_and_json_text() {
    use arrow::array::{
        Decimal128Builder, IntervalMonthDayNanoArray, ListArray, ListBuilder, StringBuilder,
    };
    use arrow::datatypes::{Int32Type, IntervalMonthDayNano};

    let db = TempDb::new("textforms");
    let dec = ColumnType::Decimal {
        precision: 10,
        scale: 2,
    };
    let schema = TableSchema {
        table: "t".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("iv", ColumnType::Interval, true),
            col("li", ColumnType::list(ColumnType::Int32), true),
            col("lt", ColumnType::list(text()), true),
            col("ld", ColumnType::list(dec.clone()), true),
        ],
        primary_key: vec!["id".into()],
    };
    let mut lt = ListBuilder::new(StringBuilder::new());
    lt.values().append_value("a\"b");
    lt.values().append_value("c,d");
    lt.values().append_null();
    lt.values().append_value("☃\n");
    lt.append(true);
    lt.append(true);
    lt.append(false);
    let mut ld = ListBuilder::new(
        Decimal128Builder::new()
            .with_precision_and_scale(10, 2)
            .unwrap(),
    );
    ld.values().append_value(150);
    ld.values().append_value(-5);
    ld.append(true);
    ld.append(true);
    ld.append(false);
    let batch = RecordBatch::try_new(
        schema.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(14, 3, 14_706_789_000_000)),
                Some(IntervalMonthDayNano::new(-14, 3, -1_000)),
                None,
            ])),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(-3)]),
                Some(vec![]),
                None,
            ])),
            Arc::new(lt.finish()),
            Arc::new(ld.finish()),
        ],
    )
    .unwrap();
    assert_eq!(
        write(&db, "t", &schema, vec![batch], SyncMode::FullOverwrite)
            .await
            .unwrap(),
        3
    );
    let conn = db.conn();
    let declared: Vec<String> = conn
        .prepare("SELECT type FROM pragma_table_info('t') ORDER BY cid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        declared,
        vec!["INTEGER", "TEXT", "JSON_TEXT", "JSON_TEXT", "JSON_TEXT"]
    );
    let rows: Vec<String> = conn
        .prepare(
            "SELECT concat_ws('|', id, coalesce(iv,'~'), coalesce(li,'~'), coalesce(lt,'~'), \
             coalesce(ld,'~'), typeof(iv), typeof(ld)) FROM t ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![
            r#"1|P1Y2M3DT4H5M6.789S|[1,null,-3]|["a\"b","c,d",null,"☃\n"]|[1.50,-0.05]|text|text"#,
            "2|P-1Y-2M3DT-0.000001S|[]|[]|[]|text|text",
            "3|~|~|~|~|null|null",
        ]
    );
    // They read back as their text forms.
    let (back, _) = read_all(&db, "t", 1 << 20).await.unwrap();
    let types: Vec<ColumnType> = back.columns.iter().map(|c| c.ty.clone()).collect();
    assert_eq!(
        types,
        vec![
            ColumnType::Int64,
            text(),
            ColumnType::Json,
            ColumnType::Json,
            ColumnType::Json
        ]
    );
}

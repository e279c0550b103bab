//! SQLite: a table in a local database file, read and written with rusqlite.
//!
//! rusqlite is blocking, so every database call runs on a blocking thread
//! (`spawn_blocking`) and batches cross to the async side through a bounded
//! channel (capacity 2):
//!
//! ```text
//!  read:   blocking thread                         async side
//!          BEGIN (snapshot, held by the session)
//!          SELECT cols FROM t ORDER BY rowid ──▶ BatchBuilder ──▶ mpsc(2) ──▶ BatchStream
//!          (stops when the stream is dropped: closed channel + sqlite3_interrupt)
//!
//!  write:  BatchStream ──▶ mpsc(2) ──▶ blocking thread
//!          prepare: BEGIN IMMEDIATE; check or CREATE the target; DELETE FROM target (overwrite)
//!          write_all: one prepared INSERT … VALUES (?, …) per row, every value bound;
//!                     a constraint failure (key, NOT NULL, CHECK) undoes only that INSERT:
//!                     with dirty rows allowed the row becomes a dirty row, else the write fails
//!          commit: COMMIT            abort: ROLLBACK
//! ```
//!
//! Incremental, windowed and `source_filter` reads add their condition to
//! the one `SELECT`, with every value bound in the storage class its column
//! holds (see [`pushdown`] for how cursors and windows compare in SQLite).
//! The sink's `incremental_merge` upserts by key, `window_overwrite`
//! deletes the window's rows first, and the checkpoint of an incremental run
//! commits with its rows (see [`merge`]).
//!
//! # Why one split, and why one transaction
//! The source plans exactly one split: the data is a local file, one sequential
//! reader of the table b-tree is the fastest plan (parallel readers would only
//! seek around the same file), and the snapshot lives in the session's connection.
//!
//! The sink does all its work — DDL, the delete of an overwrite, every insert —
//! in one `BEGIN IMMEDIATE` transaction. SQLite's rollback journal (or WAL) is
//! then the staging area: readers see nothing until `COMMIT`, `abort()` is a
//! `ROLLBACK`, and a killed process leaves the file as it was. Because of that
//! no staging table is needed, and none can be left behind as debris. An
//! overwrite of an existing target deletes its rows inside the transaction
//! instead of dropping it, so the target keeps its indexes, triggers, checks and
//! declared types (a drop-and-rename swap would silently lose them).
//!
//! # Type mapping
//! The declared type is parsed case-insensitively: the words before `(` pick the
//! type, the numbers in parentheses give lengths and precision.
//!
//! | declared type (reader)                                  | ColumnType                  | written as (sink DDL)   |
//! |---------------------------------------------------------|-----------------------------|-------------------------|
//! | `BOOL`, `BOOLEAN`                                       | bool                        | `BOOLEAN`               |
//! | `TINYINT`, `SMALLINT`, `INT2`                           | int16                       | `SMALLINT`              |
//! | `INT`, `INT4`, `MEDIUMINT`                              | int32                       | `INT`                   |
//! | `INTEGER`, `BIGINT`, `INT8`                             | int64                       | `INTEGER`               |
//! | `FLOAT`, `FLOAT4`                                       | float32                     | `FLOAT`                 |
//! | `REAL`, `DOUBLE`, `DOUBLE PRECISION`, `FLOAT8`          | float64                     | `REAL`                  |
//! | `DECIMAL(p,s)`, `NUMERIC(p,s)`, `DECIMAL_TEXT(p,s)`     | decimal(p,s) (p ≤ 38)       | `DECIMAL(p,s)` if p ≤ 15, else `DECIMAL_TEXT(p,s)` |
//! | `DECIMAL`, `NUMERIC`, `DECIMAL_TEXT`, p > 38            | decimal_text                | `DECIMAL_TEXT`          |
//! | `CHAR(n)`, `CHARACTER(n)`, `NCHAR(n)`                   | char(n)                     | `CHAR(n)`               |
//! | `VARCHAR(n)`, `CHARACTER VARYING(n)`, `NVARCHAR(n)`     | varchar(n)                  | `VARCHAR(n)`            |
//! | `TEXT`, `CLOB`, `CHAR`, `VARCHAR`, empty                | text                        | `TEXT`                  |
//! | `BLOB`, `BYTEA`                                         | binary                      | `BLOB`                  |
//! | `DATE`                                                  | date                        | `DATE`                  |
//! | `TIME`                                                  | time                        | `TIME`                  |
//! | `DATETIME`, `TIMESTAMP`                                 | timestamp                   | `TIMESTAMP`             |
//! | `TIMESTAMPTZ`, `TIMESTAMP WITH TIME ZONE`               | timestamptz                 | `TIMESTAMPTZ`           |
//! | `UUID`                                                  | uuid                        | `UUID`                  |
//! | `JSON`, `JSONB`, `JSON_TEXT`                            | json                        | `JSON_TEXT`             |
//! | (no such type; written only)                            | interval                    | `TEXT` holding ISO 8601 (`P1Y2M3DT4H`), reads back as text |
//! | (no such type; written only)                            | list<T>                     | `JSON_TEXT` holding a JSON array, reads back as json |
//! | anything else, by SQLite's affinity rules: contains `INT` → int64; `CHAR`/`CLOB`/`TEXT` → text; `BLOB` → binary; `REAL`/`FLOA`/`DOUB` → float64; otherwise decimal_text | | |
//!
//! # Storage forms
//! Integers and booleans (0/1) are INTEGER, floats REAL (NaN cannot be stored:
//! a dirty row), text, JSON and UUIDs (hyphenated) TEXT, bytes BLOB, dates
//! `YYYY-MM-DD`, times `HH:MM:SS.ffffff`, timestamps `YYYY-MM-DD HH:MM:SS.ffffff`,
//! instants `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), all TEXT.
//!
//! Decimals are bound as exact decimal text. A column declared `DECIMAL(p,s)` has
//! SQLite's NUMERIC affinity, which turns such text into INTEGER or REAL and keeps
//! only 15 significant digits of a REAL. That is lossless when p ≤ 15 (any decimal
//! of at most 15 significant digits survives the trip through a double), and keeps
//! small decimals numbers for other SQLite tools (sorting, `SUM`). Wider decimals
//! are declared `DECIMAL_TEXT(p,s)`: the word `TEXT` gives the column TEXT
//! affinity, so SQLite stores the text untouched, and this reader still sees a
//! decimal(p,s). So `numeric(38,10)` → SQLite → `numeric(38,10)` is exact. JSON is
//! declared `JSON_TEXT` for the same reason (a JSON document `1.50` must stay text).
//! When writing decimals into an existing column with NUMERIC affinity, a value
//! that SQLite would round (more than 15 significant digits) is dirty data.
//!
//! The reader accepts what other tools commonly write: INTEGER, REAL or TEXT for
//! decimals (a REAL is read as the shortest decimal that round-trips; one needing
//! more than 15 significant digits is dirty when p > 15, and rounded to SQLite's own
//! 15 digits when p ≤ 15, then it must be exact at the scale), timestamps
//! without fraction or with `T`, `Z` or `±HH:MM` (converted to UTC; without a zone
//! a timestamptz is taken as UTC, as SQLite's own `datetime()` writes it), `HH:MM`
//! times, 0/1 or `true`/`false` booleans, 16-byte BLOB UUIDs, UTF-8 BLOBs as text.
//! A value that does not fit its declared type makes its **row dirty**: the row
//! is left out of the batches and handed to the split's `Rejects` with the
//! column, a reason and the raw value (`read.rs` lists the reasons): `'abc'` in
//! an INTEGER, REAL or DATE column (`conversion`), an integer outside an
//! INT/SMALLINT column's range (`overflow`), text that is not UTF-8 in any
//! column but a BLOB one (`encoding`), a text longer than its VARCHAR(n) or a
//! REAL in an INT column that is not a whole number (`truncation`/`conversion`).
//! Its position is the table's key (`id=7`) or its row number; the message
//! names its rowid. Without a dirty policy the first such row fails the read
//! naming the column; errors reading the file itself always do.
//!
//! On the way in, SQLite stores NaN as NULL: the engine makes a NaN float a
//! dirty row (`conversion`) before it reaches this sink
//! ([`ferry_core::SinkWriter::float_specials`]); ±Infinity is stored as is.

mod browse;
mod connector;
mod ddl;
mod matrix;
mod merge;
mod prepare;
mod pushdown;
mod read;
mod sink;
mod source;
mod spec;
mod types;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_core::spec::TableName;

use ferry_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};

pub use connector::SqliteConnector;
pub use sink::SqliteSink;
pub use source::SqliteSource;
pub use spec::{FileConnection, SqliteEndpoint};
pub(crate) use types::affinity;
pub use types::{column_type, declared_type};

/// The connector's name.
const CONNECTOR: &str = "sqlite";
/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Where the table lives: shared by the source and the sink.
#[derive(Debug, Clone)]
struct Target {
    /// Path of the database file.
    path: PathBuf,
    /// Table name, unquoted.
    table: String,
}

impl Target {
    fn new(endpoint: &SqliteEndpoint, table: &TableName) -> Result<Self> {
        if endpoint.path.as_os_str().is_empty() {
            return Err(Error::invalid("path", "must name a file"));
        }
        if table.schema.is_some() {
            return Err(Error::invalid(
                "table",
                "SQLite tables are not schema-qualified; write just the table name",
            ));
        }
        Ok(Target {
            path: endpoint.path.clone(),
            table: table.name.clone(),
        })
    }

    /// The database file as shown in messages.
    fn file(&self) -> String {
        self.path.display().to_string()
    }
}

/// Quotes an identifier for SQLite: double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Opens an existing database file read-only.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(Error::NotFound {
            what: "database file",
            name: path.display().to_string(),
            hint: None,
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, "set busy_timeout", e))?;
    Ok(conn)
}

/// Opens a database file for writing, creating it if missing.
fn open_read_write(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, "set busy_timeout", e))?;
    Ok(conn)
}

/// Maps a rusqlite error to Ferry's error, naming the file and what was being done.
pub(crate) fn sql_error(path: &Path, doing: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let context = format!("sqlite {}: {doing}", path.display());
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::DatabaseBusy | C::DatabaseLocked => Error::Transient {
                endpoint: path.display().to_string(),
                message: format!("{doing}: {e} (another connection holds the lock)"),
            },
            C::CannotOpen => Error::NotFound {
                what: "database file",
                name: path.display().to_string(),
                hint: Some(e.to_string()),
            },
            C::OperationInterrupted => Error::Cancelled(format!("{context}: {e}")),
            _ => Error::server(context, e.to_string()),
        },
        _ => Error::server(context, e.to_string()),
    }
}

/// A column of an existing table, from `PRAGMA table_xinfo`.
#[derive(Debug, Clone)]
pub(crate) struct TableColumn {
    pub(crate) name: String,
    pub(crate) declared: String,
    pub(crate) not_null: bool,
    has_default: bool,
    /// 1-based position in the primary key, 0 when not part of it.
    pk: u32,
    /// Generated (virtual or stored) columns can be read but not written.
    generated: bool,
}

/// What `sqlite_schema` says about a table or view.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    /// The name as stored (SQLite matches names case-insensitively).
    pub(crate) name: String,
    /// `table` or `view`.
    pub(crate) kind: String,
    /// The `CREATE` statement.
    sql: Option<String>,
    pub(crate) columns: Vec<TableColumn>,
}

/// Looks up `table` in the main database; `None` if there is no such table or view.
pub(crate) fn table_info(conn: &Connection, path: &Path, table: &str) -> Result<Option<TableInfo>> {
    let err = |e| sql_error(path, "read the schema", e);
    let found = conn
        .prepare(
            "SELECT name, type, sql FROM main.sqlite_schema \
             WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE",
        )
        .and_then(|mut s| {
            let mut rows = s.query([table])?;
            match rows.next()? {
                Some(r) => Ok(Some((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                ))),
                None => Ok(None),
            }
        })
        .map_err(err)?;
    let Some((name, kind, sql)) = found else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare(
            "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk, hidden \
             FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
        )
        .map_err(err)?;
    let mut columns = Vec::new();
    let mut rows = stmt.query([&name]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let hidden: i64 = r.get(5).map_err(err)?;
        if hidden == 1 {
            continue; // hidden column of a virtual table
        }
        columns.push(TableColumn {
            name: r.get(0).map_err(err)?,
            declared: r
                .get::<_, Option<String>>(1)
                .map_err(err)?
                .unwrap_or_default(),
            not_null: r.get::<_, i64>(2).map_err(err)? != 0,
            has_default: r.get(3).map_err(err)?,
            pk: u32::try_from(r.get::<_, i64>(4).map_err(err)?).unwrap_or(0),
            generated: hidden == 2 || hidden == 3,
        });
    }
    Ok(Some(TableInfo {
        name,
        kind,
        sql,
        columns,
    }))
}

/// The tables of the main database, for "not found" hints.
fn table_names(conn: &Connection) -> Vec<String> {
    let names = conn
        .prepare(
            "SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 50",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    names.unwrap_or_default()
}

/// The "table not found" error, listing the tables that do exist.
fn table_not_found(conn: &Connection, target: &Target) -> Error {
    let names = table_names(conn);
    Error::NotFound {
        what: "table",
        name: target.table.clone(),
        hint: Some(if names.is_empty() {
            format!("{} has no tables", target.file())
        } else {
            format!("{} has: {}", target.file(), names.join(", "))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("orders"), "\"orders\"");
        assert_eq!(quote_ident("we \"quote\""), "\"we \"\"quote\"\"\"");
    }
}

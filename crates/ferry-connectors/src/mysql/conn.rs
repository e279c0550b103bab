//! Endpoints, connections, quoting, deterministic helper names, error mapping
//! and catalog introspection shared by the source and the sink.

use std::fmt::Display;

use ferry_core::spec::{TableName, redact_url};
use ferry_core::tls::{Dialect, SslMode, TlsSettings, take_tls_params};

use crate::common::server_spec::{SqlEndpoint, password_from_env};
use ferry_core::{Error, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};

/// The connector's name in the registry and in errors.
pub(crate) const CONNECTOR: &str = "mysql";

/// How long opening a connection may take before it counts as failed.
const CONNECT_TIMEOUT_SECS: u64 = 30;
/// TCP keep-alive, so a dead server is noticed during long streams.
const TCP_KEEPALIVE_MS: u32 = 60_000;

/// MySQL's limit on identifier length, in characters.
const MAX_IDENT_CHARS: usize = 64;

/// A parsed endpoint: driver options (no default database selected, every
/// statement names the database), the table, and the URL for messages.
/// `Debug` leaves the driver options out: they hold the password.
#[derive(Clone)]
pub(crate) struct Endpoint {
    opts: Opts,
    /// `sslmode` / `sslrootcert` from the URL (default `disable`).
    tls: TlsSettings,
    /// The URL with any password redacted.
    pub(crate) url: String,
    /// The table's database.
    pub(crate) database: String,
    /// The table's name.
    pub(crate) table: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("database", &self.database)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Parses `endpoint` (pure, no I/O); `field` is `source` or `sink` for messages.
    pub(crate) fn parse(endpoint: &SqlEndpoint, table: &TableName, field: &str) -> Result<Self> {
        let (mut opts, tls, redacted, url_database) = driver_opts(&endpoint.url, field)?;
        if let Some(pw) = password_from_env(field, endpoint.password_env.as_deref())? {
            opts = opts.pass(Some(pw));
        }
        let database = match (&table.schema, url_database) {
            (Some(db), _) => db.clone(),
            (None, Some(db)) => db,
            (None, None) => {
                return Err(Error::invalid(
                    format!("{field}.table"),
                    format!(
                        "`{}` names no database and {redacted} has none; write `database.table` \
                         or put the database in the URL",
                        table.name
                    ),
                ));
            }
        };
        Ok(Endpoint {
            opts: opts.into(),
            tls,
            url: redacted,
            database,
            table: table.name.clone(),
        })
    }

    /// The server of a named connection (no table): its URL, with the
    /// password kept apart from it. `database` is the URL's, or empty.
    pub(crate) fn server(field: &str, url: &str, password: Option<&str>) -> Result<Self> {
        let (mut opts, tls, redacted, url_database) = driver_opts(url, field)?;
        if let Some(pw) = password {
            opts = opts.pass(Some(pw));
        }
        Ok(Endpoint {
            opts: opts.into(),
            tls,
            url: redacted,
            database: url_database.unwrap_or_default(),
            table: String::new(),
        })
    }

    /// `database.table`, for messages and the run summary (the database, or
    /// `server`, for an endpoint without a table).
    pub(crate) fn display(&self) -> String {
        match (self.database.is_empty(), self.table.is_empty()) {
            (_, false) => format!("{}.{}", self.database, self.table),
            (false, true) => self.database.clone(),
            (true, true) => "server".to_string(),
        }
    }

    /// `` `database`.`name` `` for a table in the target's database.
    pub(crate) fn qualified(&self, name: &str) -> String {
        format!("{}.{}", quote(&self.database), quote(name))
    }

    /// Opens a connection; the session reads and writes UTC and utf8mb4.
    pub(crate) async fn connect(&self) -> Result<Conn> {
        let timeout = std::time::Duration::from_secs(CONNECT_TIMEOUT_SECS);
        let mut conn = tokio::time::timeout(timeout, super::tls::connect(&self.opts, &self.tls))
            .await
            .map_err(|_| Error::Transient {
                endpoint: self.url.clone(),
                message: format!(
                    "{} connecting: no answer within {CONNECT_TIMEOUT_SECS} s",
                    self.display()
                ),
            })?
            .map_err(|e| match e {
                super::tls::ConnectError::Config(e) => e,
                super::tls::ConnectError::Driver(e) => {
                    super::tls::tls_error(&self.url, &self.tls, &e)
                        .unwrap_or_else(|| self.error("connecting", e))
                }
            })?;
        conn.query_drop("SET NAMES utf8mb4, SESSION time_zone = '+00:00'")
            .await
            .map_err(|e| self.error("setting up the session", e))?;
        Ok(conn)
    }

    /// Maps an error of a read whose query holds the user's `source_filter`
    /// (`filtered`): a parse, unknown-name, wrong-argument or bad-value error
    /// is the filter's, so the user's to fix, not Ferry's.
    pub(crate) fn read_error(
        &self,
        context: impl Display,
        err: mysql_async::Error,
        filtered: bool,
    ) -> Error {
        match err {
            // parse error, unknown column, unknown function, wrong argument
            // count/type, operand count, illegal collation mix, truncated value
            mysql_async::Error::Server(s)
                if filtered
                    && matches!(
                        s.code,
                        1064 | 1054 | 1305 | 1582 | 1583 | 1584 | 1241 | 1267 | 1270 | 1292 | 1366
                    ) =>
            {
                Error::invalid(
                    "source_filter",
                    format!(
                        "{} refused the read with this filter ({context}): {} (error {})",
                        self.display(),
                        s.message,
                        s.code
                    ),
                )
            }
            other => self.error(context, other),
        }
    }

    /// Maps a driver error to Ferry's error, naming what was being done.
    pub(crate) fn error(&self, context: impl Display, err: mysql_async::Error) -> Error {
        use mysql_async::{DriverError, Error as E};
        let what = format!("{} {context}", self.display());
        let context = format!("{} ({}) {context}", self.display(), self.url);
        match err {
            E::Server(s) => match s.code {
                // access denied (user, database), unix-socket/plugin refusals
                1044 | 1045 | 1698 => Error::Auth {
                    endpoint: self.url.clone(),
                    message: s.message,
                },
                // lock wait timeout, deadlock, too many connections, shutdown,
                // connection killed, query interrupted
                1205 | 1213 | 1040 | 1053 | 1927 | 1317 | 1080 => Error::Server {
                    context,
                    message: format!("{} (error {})", s.message, s.code),
                    transient: true,
                },
                _ => Error::Server {
                    context,
                    message: format!("{} (error {})", s.message, s.code),
                    transient: false,
                },
            },
            E::Io(e) => Error::Transient {
                endpoint: self.url.clone(),
                message: format!("{what}: {e}"),
            },
            E::Driver(DriverError::ConnectionClosed | DriverError::PoolDisconnected) => {
                Error::Transient {
                    endpoint: self.url.clone(),
                    message: format!("{what}: the connection was closed"),
                }
            }
            other => Error::Server {
                context,
                message: other.to_string(),
                transient: false,
            },
        }
    }
}

/// Driver options of `url` (`mysql://` or `mariadb://`) with no default
/// database selected (a password set on them overrides one in the URL);
/// also its TLS settings, the redacted URL and the URL's database.
fn driver_opts(
    url: &str,
    field: &str,
) -> Result<(OptsBuilder, TlsSettings, String, Option<String>)> {
    let redacted = redact_url(url);
    let (url, tls) = take_tls_params(
        url,
        &format!("{field}.url"),
        Dialect::Mysql,
        SslMode::Disable,
    )?;
    let url = url.as_str();
    let url = match url.split_once("://") {
        Some(("mysql", _)) => url.to_string(),
        Some(("mariadb", rest)) => format!("mysql://{rest}"),
        _ => {
            return Err(Error::invalid(
                format!("{field}.url"),
                format!("{redacted} must start with mysql:// or mariadb://"),
            ));
        }
    };
    let opts = Opts::from_url(&url).map_err(|e| {
        // The driver's URL errors name parameters, never the password.
        Error::invalid(format!("{field}.url"), format!("{redacted}: {e}"))
    })?;
    let url_database = opts.db_name().map(str::to_string);
    let keepalive = opts.tcp_keepalive().unwrap_or(TCP_KEEPALIVE_MS);
    let builder = OptsBuilder::from_opts(opts)
        .db_name(None::<String>)
        .tcp_keepalive(Some(keepalive));
    let builder = super::tls::apply(builder, &tls);
    Ok((builder, tls, redacted, url_database))
}

/// Quotes an identifier with backticks, doubling any backtick inside.
pub(crate) fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A deterministic helper-table name `prefix + table` that fits MySQL's
/// 64-character limit: cut, with a short hash of the full table name, if needed.
pub(crate) fn helper_name(prefix: &str, table: &str) -> String {
    let full = format!("{prefix}{table}");
    if full.chars().count() <= MAX_IDENT_CHARS {
        return full;
    }
    let hash = format!("_{:08x}", fnv1a(table) as u32);
    let keep = MAX_IDENT_CHARS - prefix.chars().count() - hash.len();
    let cut: String = table.chars().take(keep).collect();
    format!("{prefix}{cut}{hash}")
}

/// The name of the user-level lock that serialises writers of one target table.
pub(crate) fn lock_name(database: &str, table: &str) -> String {
    let full = format!("ferry:{database}.{table}");
    if full.chars().count() <= MAX_IDENT_CHARS {
        return full;
    }
    let hash = format!(":{:016x}", fnv1a(&full));
    let cut: String = full.chars().take(MAX_IDENT_CHARS - hash.len()).collect();
    format!("{cut}{hash}")
}

/// FNV-1a: a tiny hash that is stable across Rust versions and platforms.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone)]
pub(crate) struct NativeColumn {
    pub(crate) name: String,
    /// `DATA_TYPE`, lowercase (`int`, `varchar`, ...).
    pub(crate) data_type: String,
    /// `COLUMN_TYPE`, lowercase (`int(10) unsigned`, `varchar(50)`, ...).
    pub(crate) column_type: String,
    /// `COLUMN_TYPE` exactly as the server reports it: `enum('A','b')`
    /// keeps the case of its members.
    pub(crate) declared: String,
    pub(crate) precision: Option<u64>,
    pub(crate) scale: Option<u64>,
    pub(crate) char_len: Option<u64>,
    pub(crate) nullable: bool,
    /// A default, `auto_increment`, or a generated value fills it when omitted.
    pub(crate) has_default: bool,
    /// A generated (virtual or stored) column: cannot be loaded.
    pub(crate) generated: bool,
    /// MariaDB's JSON: `longtext` with a `json_valid()` check.
    pub(crate) json: bool,
    /// Character set of a text column (`CHARACTER_SET_NAME`).
    pub(crate) charset: Option<String>,
    /// Collation of a text column (`COLLATION_NAME`).
    pub(crate) collation: Option<String>,
}

impl NativeColumn {
    /// The native type for messages and field metadata.
    pub(crate) fn native_type(&self) -> String {
        if self.json {
            "json".to_string()
        } else {
            self.column_type.clone()
        }
    }

    /// The column's exact type as DDL: `COLUMN_TYPE` as reported, plus
    /// `CHARACTER SET … COLLATE …` for character data (MariaDB's `json`
    /// takes none: it is `longtext` in `utf8mb4_bin`). What a new target of
    /// the same dialect is created with (see `ColumnDef::dialect`).
    pub(crate) fn exact_type(&self) -> String {
        if self.json {
            return "json".to_string();
        }
        match (&self.charset, &self.collation) {
            (Some(cs), Some(co)) => format!("{} CHARACTER SET {cs} COLLATE {co}", self.declared),
            _ => self.declared.clone(),
        }
    }

    /// Fractional-second digits of `time`/`datetime`/`timestamp` (`datetime(3)` → 3).
    pub(crate) fn fractional_digits(&self) -> u32 {
        self.column_type
            .split_once('(')
            .and_then(|(_, rest)| rest.trim_end_matches(')').parse().ok())
            .unwrap_or(0)
    }
}

/// A table as the catalog describes it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    /// `BASE TABLE`, `VIEW`, ...
    pub(crate) table_type: String,
    pub(crate) estimated_rows: Option<u64>,
    pub(crate) columns: Vec<NativeColumn>,
    pub(crate) primary_key: Vec<String>,
}

/// Describes `database.table`; `None` when it does not exist.
pub(crate) async fn describe(conn: &mut Conn, ep: &Endpoint) -> Result<Option<TableInfo>> {
    let key = (ep.database.as_str(), ep.table.as_str());
    let tables: Vec<Row> = conn
        .exec(
            "SELECT TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            key,
        )
        .await
        .map_err(|e| ep.error("reading information_schema.TABLES", e))?;
    let Some(t) = tables.first() else {
        return Ok(None);
    };
    let table_type = text(t, 0).unwrap_or_default();
    let estimated_rows = number(t, 1);

    let rows: Vec<Row> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, \
             CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
             CHARACTER_SET_NAME, COLLATION_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            key,
        )
        .await
        .map_err(|e| ep.error("reading information_schema.COLUMNS", e))?;
    let json_checks = json_checked_columns(conn, ep).await?;
    let columns = rows
        .iter()
        .map(|r| {
            let name = text(r, 0).unwrap_or_default();
            let extra = text(r, 8).unwrap_or_default().to_ascii_lowercase();
            let generated = extra.contains("generated") && !extra.contains("default_generated");
            let data_type = text(r, 1).unwrap_or_default().to_ascii_lowercase();
            let declared = text(r, 2).unwrap_or_default();
            NativeColumn {
                json: data_type == "longtext" && json_checks.contains(&name),
                data_type,
                column_type: declared.to_ascii_lowercase(),
                declared,
                precision: number(r, 3),
                scale: number(r, 4),
                char_len: number(r, 5),
                nullable: text(r, 6).as_deref() == Some("YES"),
                has_default: text(r, 7).is_some() || extra.contains("auto_increment") || generated,
                generated,
                charset: text(r, 9),
                collation: text(r, 10),
                name,
            }
        })
        .collect();

    let pk: Vec<Row> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
             ORDER BY ORDINAL_POSITION",
            key,
        )
        .await
        .map_err(|e| ep.error("reading information_schema.KEY_COLUMN_USAGE", e))?;
    Ok(Some(TableInfo {
        table_type,
        estimated_rows,
        columns,
        primary_key: pk.iter().filter_map(|r| text(r, 0)).collect(),
    }))
}

/// Columns of MariaDB's JSON type: `longtext` carrying a `json_valid(col)` check.
async fn json_checked_columns(conn: &mut Conn, ep: &Endpoint) -> Result<Vec<String>> {
    let result: std::result::Result<Vec<Row>, _> = conn
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (ep.database.as_str(), ep.table.as_str()),
        )
        .await;
    let rows = match result {
        Ok(rows) => rows,
        // MySQL before 8.0.16 has no CHECK_CONSTRAINTS (and no MariaDB JSON).
        Err(mysql_async::Error::Server(s)) if s.code == 1109 => return Ok(Vec::new()),
        Err(e) => return Err(ep.error("reading information_schema.CHECK_CONSTRAINTS", e)),
    };
    Ok(rows
        .iter()
        .filter_map(|r| text(r, 0))
        .filter_map(|clause| {
            let inner = clause
                .trim()
                .strip_prefix("json_valid(`")?
                .strip_suffix("`)")?;
            Some(inner.replace("``", "`"))
        })
        .collect())
}

/// The error for a table that does not exist, listing what does.
pub(crate) async fn table_not_found(conn: &mut Conn, ep: &Endpoint) -> Error {
    let listing = |rows: Vec<Row>| rows.iter().filter_map(|r| text(r, 0)).collect::<Vec<_>>();
    let schemas: Vec<Row> = conn
        .exec(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (ep.database.as_str(),),
        )
        .await
        .unwrap_or_default();
    let hint = if schemas.is_empty() {
        let dbs: Vec<Row> = conn
            .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1 LIMIT 20")
            .await
            .unwrap_or_default();
        format!(
            "database `{}` does not exist on {}; databases: {}",
            ep.database,
            ep.url,
            listing(dbs).join(", ")
        )
    } else {
        let tables: Vec<Row> = conn
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
                 ORDER BY 1 LIMIT 20",
                (ep.database.as_str(),),
            )
            .await
            .unwrap_or_default();
        let tables = listing(tables);
        if tables.is_empty() {
            format!("database `{}` has no tables", ep.database)
        } else {
            format!("database `{}` has: {}", ep.database, tables.join(", "))
        }
    };
    Error::NotFound {
        what: "table",
        name: ep.display(),
        hint: Some(hint),
    }
}

/// Text of column `i` of a catalog row; `None` for NULL.
pub(crate) fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(v) => Some(v.to_string()),
        Value::UInt(v) => Some(v.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Unsigned number in column `i` of a catalog row; `None` for NULL.
pub(crate) fn number(row: &Row, i: usize) -> Option<u64> {
    match row.as_ref(i)? {
        Value::Int(v) => u64::try_from(*v).ok(),
        Value::UInt(v) => Some(*v),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backticks() {
        assert_eq!(quote("a`b"), "`a``b`");
        assert_eq!(quote("plain"), "`plain`");
    }

    #[test]
    fn helper_names_fit_and_are_deterministic() {
        assert_eq!(helper_name("_ferry_stg_", "orders"), "_ferry_stg_orders");
        let long = "x".repeat(63);
        let a = helper_name("_ferry_stg_", &long);
        assert_eq!(a.chars().count(), 64);
        assert_eq!(a, helper_name("_ferry_stg_", &long));
        assert_ne!(
            a,
            helper_name("_ferry_stg_", &format!("{}y", "x".repeat(62)))
        );
        let lock = lock_name(&"d".repeat(64), &"t".repeat(64));
        assert_eq!(lock.chars().count(), 64);
    }

    #[test]
    fn parses_urls_and_defaults_the_database() {
        let ep = SqlEndpoint {
            connection: None,
            url: "mariadb://u:secret@h:3307/shop".into(),
            password_env: None,
            table: "orders".into(),
        };
        let t = TableName::parse("t", "orders").expect("name");
        let e = Endpoint::parse(&ep, &t, "source").expect("endpoint");
        assert_eq!(e.display(), "shop.orders");
        assert!(!format!("{e:?}").contains("secret"), "{e:?}");
        assert_eq!(e.url, "mariadb://u:***@h:3307/shop");
        let t = TableName::parse("t", "other.orders").expect("name");
        assert_eq!(
            Endpoint::parse(&ep, &t, "source").expect("ep").database,
            "other"
        );
        let no_db = SqlEndpoint {
            url: "mysql://u:secret@h".into(),
            ..ep
        };
        let t = TableName::parse("t", "orders").expect("name");
        let err = Endpoint::parse(&no_db, &t, "sink").expect_err("no database");
        assert!(err.to_string().contains("sink.table"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

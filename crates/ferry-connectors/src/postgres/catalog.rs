//! Catalog look-ups: does the table exist, what are its columns and key.

use ferry_core::spec::TableName;
use ferry_core::{ColumnDef, Error, Result, TableSchema};
use tokio_postgres::Client;

use super::types::{PgColumn, quote_ident};
use super::{PgEndpoint, map_err};

/// A resolved table: its quoted name, oid, and columns.
#[derive(Debug, Clone)]
pub(crate) struct PgTable {
    /// `"schema"."table"`.
    pub quoted: String,
    /// Display name `schema.table`.
    pub display: String,
    /// pg_class oid.
    pub oid: u32,
    /// Columns in attnum order.
    pub columns: Vec<PgColumn>,
    /// Primary key columns in key order.
    pub primary_key: Vec<String>,
}

impl PgTable {
    pub fn column(&self, name: &str) -> Option<&PgColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The table as Ferry's schema.
    pub fn schema(&self) -> TableSchema {
        TableSchema {
            table: self.display.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| ColumnDef {
                    name: c.name.clone(),
                    ty: c.mapping().0,
                    nullable: !c.not_null,
                    native_type: c.formatted.clone(),
                    dialect: Some(super::DIALECT),
                })
                .collect(),
            primary_key: self.primary_key.clone(),
        }
    }
}

/// `schema.table` with the default schema filled in.
pub(crate) fn qualify(t: &TableName) -> (String, String) {
    (
        t.schema.clone().unwrap_or_else(|| "public".into()),
        t.name.clone(),
    )
}

/// Looks the table up; `Ok(None)` if it does not exist.
pub(crate) async fn find_table(
    client: &Client,
    ep: &PgEndpoint,
    t: &TableName,
) -> Result<Option<PgTable>> {
    let (schema, name) = qualify(t);
    let quoted = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
    let display = format!("{schema}.{name}");
    // A catalog scan under the statement's snapshot, not `to_regclass`: its
    // name cache may still hold "no such table" from before an advisory-lock
    // wait (PostgreSQL processes cache invalidations at relation locks, not
    // at advisory ones), so a run that waited for another's CREATE would
    // create the table again.
    let row = client
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &name],
        )
        .await
        .map_err(|e| map_err(&ep.display, &format!("looking up table {display}"), e))?;
    let Some(oid) = row.map(|r| r.get::<_, u32>(0)) else {
        return Ok(None);
    };
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod),
                    a.atttypmod, a.attnotnull,
                    (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''),
                    t.typtype = 'e', a.atttypid
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| map_err(&ep.display, &format!("reading columns of {display}"), e))?;
    let columns = rows
        .iter()
        .map(|r| PgColumn {
            name: r.get(0),
            typname: r.get(1),
            formatted: r.get(2),
            typmod: r.get(3),
            not_null: r.get(4),
            has_default: r.get(5),
            is_enum: r.get(6),
            type_oid: r.get(7),
        })
        .collect();
    let pk_rows = client
        .query(
            "SELECT a.attname::text
               FROM pg_index i
               JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = $1 AND i.indisprimary
              ORDER BY k.ord",
            &[&oid],
        )
        .await
        .map_err(|e| {
            map_err(
                &ep.display,
                &format!("reading the primary key of {display}"),
                e,
            )
        })?;
    Ok(Some(PgTable {
        quoted,
        display,
        oid,
        columns,
        primary_key: pk_rows.iter().map(|r| r.get(0)).collect(),
    }))
}

/// Like [`find_table`] but a missing table is an error that lists what exists.
pub(crate) async fn require_table(
    client: &Client,
    ep: &PgEndpoint,
    t: &TableName,
) -> Result<PgTable> {
    if let Some(table) = find_table(client, ep, t).await? {
        return Ok(table);
    }
    let (schema, name) = qualify(t);
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r','p','v','m','f')
              ORDER BY c.relname LIMIT 20",
            &[&schema],
        )
        .await
        .map_err(|e| map_err(&ep.display, "listing tables", e))?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Err(Error::NotFound {
        what: "table",
        name: format!("{schema}.{name}"),
        hint: Some(if names.is_empty() {
            format!("schema {schema} has no tables in {}", ep.display)
        } else {
            format!("schema {schema} has: {}", names.join(", "))
        }),
    })
}

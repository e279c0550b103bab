//! Preparing the target of a write, inside the sink's open transaction:
//! checking an existing table (and, for a merge, its unique key) or creating
//! it, deleting what the mode replaces (all rows, or a window's), and
//! planning the statement each row runs (an insert, or a merge's upsert
//! and delete).

use ferry_core::connector::{TargetPlan, WriteSpec};
use ferry_core::pushdown::WindowRange;
use ferry_core::spec::SyncMode;
use ferry_core::{Error, Result, TableSchema};
use rusqlite::Connection;

use super::ddl::{check_existing, create_table_sql, insert_sql};
use super::merge;
use super::types::{affinity, declared_type};
use super::write::WriteColumn;
use super::{Target, quote_ident, sql_error, table_info};

/// The statement and columns of the inserts.
#[derive(Debug)]
pub(super) struct InsertPlan {
    pub sql: String,
    pub columns: Vec<WriteColumn>,
    /// Key columns naming a refused row (the target's key, else the source's).
    pub key: Vec<String>,
    /// Set for `incremental_merge`: `sql` is an upsert, and flagged rows delete.
    pub merge: Option<MergeRows>,
}

/// How a merge applies rows: upsert, or delete by key the rows flagged by
/// the delete column.
#[derive(Debug)]
pub(super) struct MergeRows {
    /// `DELETE … WHERE key = ?…`, when there is a delete column.
    pub delete_sql: Option<String>,
    /// Position of the delete column among the written columns.
    pub delete_flag: Option<usize>,
    /// Positions of the merge key's columns among the written columns.
    pub key: Vec<usize>,
}

/// Checks or creates the target inside the open transaction.
pub(super) fn prepare_target(
    conn: &Connection,
    target: &Target,
    schema: &TableSchema,
    write: &WriteSpec,
) -> Result<(TargetPlan, InsertPlan)> {
    let mode = write.mode;
    let schema_error = |problems: Vec<String>| Error::Schema {
        table: target.table.clone(),
        problems,
    };
    let mut problems = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        if let Some(other) = schema.columns[..i]
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&c.name))
        {
            problems.push(format!(
                "columns `{}` and `{}` differ only in case, which SQLite treats as the same name",
                other.name, c.name
            ));
        }
    }
    if schema.columns.is_empty() {
        problems.push("the source has no columns to write".into());
    }
    if mode == SyncMode::IncrementalMerge && write.merge_key.is_empty() {
        return Err(Error::invalid(
            "merge.key",
            "incremental_merge needs the columns that identify a row",
        ));
    }
    if mode == SyncMode::WindowOverwrite && write.window.is_none() {
        return Err(Error::invalid(
            "window",
            "window_overwrite needs the run's window [window_start, window_end)",
        ));
    }
    if !problems.is_empty() {
        return Err(schema_error(problems));
    }
    let exec = |sql: &str, doing: &str| {
        conn.execute_batch(sql)
            .map_err(|e| sql_error(&target.path, doing, e))
    };
    let (plan, columns, target_key) = match table_info(conn, &target.path, &target.table)? {
        Some(info) => {
            if info.kind != "table" {
                return Err(schema_error(vec![format!(
                    "`{}` is a {}; the sink writes into tables",
                    info.name, info.kind
                )]));
            }
            let problems = check_existing(schema, &info.columns);
            if !problems.is_empty() {
                return Err(schema_error(problems));
            }
            if mode == SyncMode::IncrementalMerge
                && !merge::has_unique_key(
                    conn,
                    &target.path,
                    &info.name,
                    &info.columns,
                    &write.merge_key,
                )?
            {
                return Err(schema_error(vec![format!(
                    "incremental_merge needs a primary key or unique index on exactly the merge key ({}); \
                     create one, or set `merge.key` to the columns of an existing one",
                    write.merge_key.join(", ")
                )]));
            }
            if mode == SyncMode::FullOverwrite {
                exec(
                    &format!("DELETE FROM {}", quote_ident(&info.name)),
                    "delete the old rows",
                )?;
            }
            if let (SyncMode::WindowOverwrite, Some(w)) = (mode, &write.window) {
                delete_window(conn, target, &info.name, schema, w)?;
            }
            let columns = schema
                .columns
                .iter()
                .map(|c| {
                    let declared = info
                        .columns
                        .iter()
                        .find(|t| t.name.eq_ignore_ascii_case(&c.name))
                        .map(|t| t.declared.as_str())
                        .unwrap_or_default();
                    WriteColumn {
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        affinity: affinity(declared),
                    }
                })
                .collect::<Vec<_>>();
            let mut key: Vec<&super::TableColumn> =
                info.columns.iter().filter(|t| t.pk > 0).collect();
            key.sort_by_key(|t| t.pk);
            // In the source's spelling: SQLite matches names case-insensitively.
            let key = key
                .iter()
                .map(|t| {
                    schema
                        .columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(&t.name))
                        .map_or_else(|| t.name.clone(), |c| c.name.clone())
                })
                .collect::<Vec<_>>();
            let plan = TargetPlan {
                table: info.name,
                creates_table: false,
                ddl: info.sql,
            };
            (plan, columns, key)
        }
        None => {
            // A merge target gets the merge key as its primary key.
            let mut shape = schema.clone();
            if mode == SyncMode::IncrementalMerge {
                shape.primary_key = write.merge_key.clone();
            }
            let ddl = create_table_sql(&target.table, &shape);
            exec(&ddl, "create the target table")?;
            let columns = schema
                .columns
                .iter()
                .map(|c| WriteColumn {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    affinity: affinity(&declared_type(&c.ty)),
                })
                .collect::<Vec<_>>();
            let plan = TargetPlan {
                table: target.table.clone(),
                creates_table: true,
                ddl: Some(ddl),
            };
            (plan, columns, Vec::new())
        }
    };
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let position = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
    let merge_rows = if mode == SyncMode::IncrementalMerge {
        let key = write
            .merge_key
            .iter()
            .map(|k| {
                position(k).ok_or_else(|| {
                    schema_error(vec![format!("merge key column `{k}` is not written")])
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let delete_flag = match &write.delete_column {
            Some(d) => Some(position(d).ok_or_else(|| {
                schema_error(vec![format!("delete column `{d}` is not written")])
            })?),
            None => None,
        };
        Some(MergeRows {
            delete_sql: delete_flag.map(|_| merge::delete_sql(&plan.table, &write.merge_key)),
            delete_flag,
            key,
        })
    } else {
        None
    };
    let insert = InsertPlan {
        sql: if merge_rows.is_some() {
            merge::upsert_sql(&plan.table, &names, &write.merge_key)
        } else {
            insert_sql(&plan.table, &columns)
        },
        columns,
        key: if target_key.is_empty() {
            schema.primary_key.clone()
        } else {
            target_key
        },
        merge: merge_rows,
    };
    Ok((plan, insert))
}

/// Deletes the target rows of the window (inside the write transaction),
/// with bounds in the storage form of the column's type.
fn delete_window(
    conn: &Connection,
    target: &Target,
    table: &str,
    schema: &TableSchema,
    w: &WindowRange,
) -> Result<()> {
    let ty = schema
        .column(&w.column)
        .map(|c| c.ty.clone())
        .ok_or_else(|| Error::NotFound {
            what: "column",
            name: w.column.clone(),
            hint: Some("the window column must be written".into()),
        })?;
    let (start, end) = super::pushdown::window_bounds(&ty, w)?;
    let col = quote_ident(&w.column);
    let n = conn
        .execute(
            &format!(
                "DELETE FROM {} WHERE {col} >= ?1 AND {col} < ?2",
                quote_ident(table)
            ),
            [&start, &end],
        )
        .map_err(|e| sql_error(&target.path, "delete the window's rows", e))?;
    tracing::info!(table = %table, rows = n, "deleted the window's rows (inside the write transaction)");
    Ok(())
}

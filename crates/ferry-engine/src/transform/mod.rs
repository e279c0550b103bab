//! Field mapping and SQL transforms, run by DataFusion over the batch stream.
//!
//! ```text
//!  plan():    mapping/filter ──compile──▶ SELECT … FROM input WHERE …   (or `sql` as is)
//!             DataFusion logical plan over `input` (the source's Arrow schema)
//!             ──▶ output TableSchema for the sink (types, nullability, key)
//!
//!  execute(): reader batches ─▶ StreamingTable `input` (one partition, handed
//!             out once) ─▶ DataFusion physical plan (one partition) ─▶ casts
//!             (exact or DirtyData) ─▶ batches re-wrapped in the output schema
//! ```
//!
//! Everything is checked at plan time against the source schema, before the
//! sink is prepared: unknown columns (with the list of input columns),
//! casts that are not lossless, invalid SQL. Casts of `mapping.cast` are not
//! SQL casts: the SELECT passes the raw column and [`cast`] converts it
//! exactly or fails the run with the column and the value.

mod cast;
mod stream;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::datasource::empty::EmptyTable;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use ferry_core::spec::MappingSpec;
use ferry_core::{ColumnDef, ColumnType, Error, Result, TableSchema, TaskSpec};
use futures::FutureExt;

use cast::CastOp;
pub use stream::{TransformCounts, apply};

/// The name of the table the transform's SQL reads.
pub const INPUT_TABLE: &str = "input";

/// A planned transform: the SQL DataFusion runs and the schema it produces.
#[derive(Clone)]
pub struct TransformPlan {
    sql: String,
    input: SchemaRef,
    output: TableSchema,
    output_arrow: SchemaRef,
    casts: Vec<CastOp>,
}

impl std::fmt::Debug for TransformPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformPlan")
            .field("sql", &self.sql)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TransformPlan {
    fn eq(&self, other: &Self) -> bool {
        self.sql == other.sql && self.output == other.output && self.casts == other.casts
    }
}

impl TransformPlan {
    /// The SQL DataFusion runs over `input`.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The schema of the rows the transform produces (what the sink receives).
    pub fn output(&self) -> &TableSchema {
        &self.output
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn df_error(field: &str, e: DataFusionError) -> Error {
    Error::invalid(field, e.strip_backtrace().to_string())
}

fn column_list(schema: &TableSchema) -> String {
    schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn missing(field: &str, name: &str, schema: &TableSchema) -> Error {
    Error::NotFound {
        what: "column",
        name: name.to_string(),
        hint: Some(format!(
            "named in `{field}`; the input of the mapping has: {}",
            column_list(schema)
        )),
    }
}

/// Parses the SQL parts of a task (expressions, filter, full SQL) without
/// knowing the source schema: what `ferry validate` can check without I/O.
pub fn check_syntax(spec: &TaskSpec) -> Result<()> {
    if let Some(m) = &spec.mapping {
        for (name, expr) in &m.add {
            check_expr(&format!("mapping.add.{name}"), expr)?;
        }
    }
    if let Some(f) = &spec.filter {
        check_expr("filter", f)?;
    }
    if let Some(sql) = &spec.sql {
        check_query(sql)?;
    }
    Ok(())
}

fn check_expr(field: &str, text: &str) -> Result<()> {
    let e = DFParser::parse_sql_into_expr(text).map_err(|e| df_error(field, e))?;
    if e.alias.is_some() {
        return Err(Error::invalid(
            field,
            "write the expression alone; the column name is the key",
        ));
    }
    Ok(())
}

fn check_query(sql: &str) -> Result<()> {
    let statements = DFParser::parse_sql(sql).map_err(|e| df_error("sql", e))?;
    match statements.len() {
        1 => {}
        n => {
            return Err(Error::invalid(
                "sql",
                format!("must be exactly one SELECT statement, found {n}"),
            ));
        }
    }
    match &statements[0] {
        Statement::Statement(s) if matches!(**s, SqlStatement::Query(_)) => Ok(()),
        other => Err(Error::invalid(
            "sql",
            format!("must be a SELECT … FROM input query, not `{other}`"),
        )),
    }
}

/// A session for one transform: one partition (a single ordered stream, no
/// repartitioning), plain Utf8 strings.
fn context() -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false);
    SessionContext::new_with_config(config)
}

/// Plans a DataFusion query over an empty `input` table (no I/O: the futures
/// complete on their first poll).
fn logical_plan(field: &str, input: &SchemaRef, sql: &str) -> Result<LogicalPlan> {
    let ctx = context();
    ctx.register_table(INPUT_TABLE, Arc::new(EmptyTable::new(input.clone())))
        .map_err(|e| Error::Internal(format!("registering the transform input: {e}")))?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(sql, options)
        .now_or_never()
        .ok_or_else(|| Error::Internal("planning the transform did not complete".into()))?
        .map_err(|e| df_error(field, e))?;
    Ok(df.logical_plan().clone())
}

/// What the compiled mapping is made of.
struct Compiled {
    sql: String,
    casts: Vec<(String, ColumnType, Option<String>)>,
}

/// Compiles `mapping` and `filter` into one SELECT over `input`, checking
/// every column they name.
fn compile(
    mapping: Option<&MappingSpec>,
    filter: Option<&str>,
    input: &TableSchema,
) -> Result<Compiled> {
    let default = MappingSpec::default();
    let m = mapping.unwrap_or(&default);
    for old in m.rename.keys() {
        if input.column(old).is_none() {
            return Err(missing("mapping.rename", old, input));
        }
    }
    // (source column, output name) after rename.
    let renamed: Vec<(String, String)> = input
        .columns
        .iter()
        .map(|c| {
            let new = m
                .rename
                .get(&c.name)
                .cloned()
                .unwrap_or_else(|| c.name.clone());
            (c.name.clone(), new)
        })
        .collect();
    let after_rename = TableSchema {
        table: input.table.clone(),
        columns: input
            .columns
            .iter()
            .zip(&renamed)
            .map(|(c, (_, new))| ColumnDef {
                name: new.clone(),
                ..c.clone()
            })
            .collect(),
        primary_key: vec![],
    };
    let mut seen = HashSet::new();
    for (_, new) in &renamed {
        if !seen.insert(new.as_str()) {
            return Err(Error::invalid(
                "mapping.rename",
                format!("two columns would be named `{new}` after the rename"),
            ));
        }
    }
    for d in &m.drop {
        if !seen.contains(d.as_str()) {
            return Err(missing("mapping.drop", d, &after_rename));
        }
    }
    let kept: Vec<&(String, String)> = renamed
        .iter()
        .filter(|(_, n)| !m.drop.contains(n))
        .collect();
    let mut casts = Vec::new();
    for (col, spec) in &m.cast {
        if !kept.iter().any(|(_, n)| n == col) {
            return Err(missing(&format!("mapping.cast.{col}"), col, &after_rename));
        }
        let to = spec.target()?;
        casts.push((col.clone(), to, spec.time_zone().map(str::to_string)));
    }
    let mut items: Vec<String> = kept
        .iter()
        .map(|(src, new)| format!("{} AS {}", quote(src), quote(new)))
        .collect();
    let mut names: HashSet<&str> = kept.iter().map(|(_, n)| n.as_str()).collect();
    for (name, expr) in &m.add {
        let field = format!("mapping.add.{name}");
        check_expr(&field, expr)?;
        if !names.insert(name) {
            return Err(Error::invalid(
                field,
                format!("column `{name}` already exists; rename or drop it first"),
            ));
        }
        // Plan each expression alone so an error names its key.
        logical_plan(
            &field,
            &input.arrow_schema(),
            &format!("SELECT ({expr}) AS {} FROM {INPUT_TABLE}", quote(name)),
        )?;
        items.push(format!("({expr}) AS {}", quote(name)));
    }
    if items.is_empty() {
        return Err(Error::invalid(
            "mapping",
            "the mapping leaves no column; keep or add at least one",
        ));
    }
    let mut sql = format!("SELECT {} FROM {INPUT_TABLE}", items.join(", "));
    if let Some(f) = filter {
        check_expr("filter", f)?;
        logical_plan(
            "filter",
            &input.arrow_schema(),
            &format!("SELECT 1 FROM {INPUT_TABLE} WHERE ({f})"),
        )?;
        sql.push_str(&format!(" WHERE ({f})"));
    }
    Ok(Compiled { sql, casts })
}

/// The column type a computed Arrow type is stored as; `None` when no sink
/// can hold it.
fn computed_type(dt: &DataType) -> Option<ColumnType> {
    use DataType as D;
    Some(match dt {
        D::Null | D::Utf8 | D::LargeUtf8 | D::Utf8View => ColumnType::Text {
            max_chars: None,
            fixed: false,
        },
        D::Boolean => ColumnType::Bool,
        D::Int8 | D::Int16 | D::UInt8 => ColumnType::Int16,
        D::Int32 | D::UInt16 => ColumnType::Int32,
        D::Int64 | D::UInt32 => ColumnType::Int64,
        D::UInt64 => ColumnType::Decimal {
            precision: 20,
            scale: 0,
        },
        D::Float16 | D::Float32 => ColumnType::Float32,
        D::Float64 => ColumnType::Float64,
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) if *s >= 0 => {
            ColumnType::decimal(Some(u32::from(*p)), Some(*s as u32))
        }
        D::Decimal256(_, s) if *s >= 0 => ColumnType::DecimalText,
        D::Binary | D::LargeBinary | D::BinaryView => ColumnType::Binary,
        D::Date32 | D::Date64 => ColumnType::Date,
        D::Time32(_) | D::Time64(_) => ColumnType::Time,
        D::Timestamp(_, None) => ColumnType::Timestamp,
        D::Timestamp(_, Some(_)) => ColumnType::TimestampTz,
        // Every interval unit converts exactly to months, days and nanoseconds.
        D::Interval(_) => ColumnType::Interval,
        D::List(f) | D::LargeList(f) | D::ListView(f) | D::LargeListView(f) => {
            let elem = computed_type(f.data_type())?;
            if !elem.is_list_element() {
                return None;
            }
            ColumnType::list(elem)
        }
        _ => return None,
    })
}

/// For each output column of a simple plan (projections and filters over
/// `input`), the input column it passes through unchanged, if any. A plan
/// with joins, aggregates, unions, windows, ... passes nothing through.
fn passthrough(plan: &LogicalPlan) -> Option<Vec<Option<String>>> {
    let LogicalPlan::Projection(p) = plan else {
        return None;
    };
    let mut node = p.input.as_ref();
    loop {
        node = match node {
            LogicalPlan::Filter(f) => f.input.as_ref(),
            LogicalPlan::SubqueryAlias(s) => s.input.as_ref(),
            LogicalPlan::TableScan(_) => break,
            _ => return None,
        };
    }
    Some(
        p.expr
            .iter()
            .map(|e| match e.clone().unalias() {
                Expr::Column(c) => Some(c.name),
                _ => None,
            })
            .collect(),
    )
}

/// Plans the transform of `spec` over `input`; `None` when the task has none.
pub fn plan_transform(spec: &TaskSpec, input: &TableSchema) -> Result<Option<TransformPlan>> {
    let (field, sql, casts) = match (&spec.sql, &spec.mapping, &spec.filter) {
        (None, None, None) => return Ok(None),
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::invalid(
                "sql",
                "`sql` replaces `mapping` and `filter`: use either `sql` alone, or `mapping`/`filter`",
            ));
        }
        (Some(sql), None, None) => {
            check_query(sql)?;
            ("sql", sql.clone(), Vec::new())
        }
        (None, m, f) => {
            let c = compile(m.as_ref(), f.as_deref(), input)?;
            ("mapping", c.sql, c.casts)
        }
    };
    let input_arrow = input.arrow_schema();
    let plan = logical_plan(field, &input_arrow, &sql)?;
    let through = passthrough(&plan);
    let by_name: HashMap<&str, &ColumnDef> =
        input.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut columns = Vec::new();
    let mut cast_ops = Vec::new();
    let mut names = HashSet::new();
    for (i, f) in plan.schema().fields().iter().enumerate() {
        let name = f.name().clone();
        if !names.insert(name.clone()) {
            return Err(Error::invalid(
                field,
                format!("the output has two columns named `{name}`; give them distinct aliases"),
            ));
        }
        let origin = through
            .as_ref()
            .and_then(|t| t[i].as_deref())
            .and_then(|src| by_name.get(src).copied())
            .filter(|c| &c.ty.arrow_type() == f.data_type());
        let mut def = match origin {
            Some(src) => ColumnDef {
                name: name.clone(),
                ..src.clone()
            },
            None => {
                let ty = computed_type(f.data_type()).ok_or_else(|| {
                    Error::invalid(
                        field,
                        format!(
                            "column `{name}` has type {} that no sink can store; cast it in the SQL",
                            f.data_type()
                        ),
                    )
                })?;
                ColumnDef {
                    name: name.clone(),
                    native_type: ty.to_string(),
                    dialect: None,
                    ty,
                    nullable: f.is_nullable(),
                }
            }
        };
        if let Some((_, to, tz)) = casts.iter().find(|(c, _, _)| *c == name) {
            cast::check(&name, &def.ty, to, tz.as_deref())?;
            if *to != def.ty {
                cast_ops.push(CastOp {
                    index: i,
                    column: name.clone(),
                    from: def.ty.clone(),
                    to: to.clone(),
                    time_zone: tz.clone(),
                });
                def.ty = to.clone();
                def.native_type = to.to_string();
                def.dialect = None;
            }
        }
        columns.push(def);
    }
    // The key survives only if every key column passes through uncast.
    let primary_key = through
        .as_ref()
        .and_then(|t| {
            input
                .primary_key
                .iter()
                .map(|k| {
                    t.iter()
                        .position(|src| src.as_deref() == Some(k.as_str()))
                        .filter(|i| !cast_ops.iter().any(|c| c.index == *i))
                        .map(|i| columns[i].name.clone())
                })
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or_default();
    let output = TableSchema {
        table: input.table.clone(),
        columns,
        primary_key,
    };
    Ok(Some(TransformPlan {
        sql,
        input: input_arrow,
        output_arrow: output.arrow_schema(),
        output,
        casts: cast_ops,
    }))
}

#[cfg(test)]
mod tests;

//! The same-dialect exact path: PostgreSQL → PostgreSQL without Arrow in
//! the way of values Arrow cannot hold.
//!
//! Arrow has no `infinity` date, no NaN `decimal(p,s)`, no multi-dimensional
//! list with lower bounds, and no `inet`, `timetz`, range, composite, … at
//! all. When the sink is PostgreSQL and no transform reads the values, the
//! source carries its columns in their binary COPY form, unchanged, in Arrow
//! `binary` columns (the [`ColumnDef`] keeps `dialect = "postgres"` and the
//! source's `format_type` as `native_type`), and the sink writes the bytes
//! back into columns of the same type. Every column travels so, not only
//! those Arrow cannot hold: relaying bytes is also the cheapest way through
//! the client (no `numeric` parsed and formatted again), which on a machine
//! whose cores the two servers share is the wall time. Only the columns the
//! engine reads (cursor, window, merge key) and Arrow-exact key columns (to
//! name a refused row) stay Arrow values; a dirty record shows carried
//! values decoded where Arrow can hold them ([`render_carried`]).
//!
//! ```text
//!  source COPY TO (binary) ─ value bytes ─► Arrow binary ─► COPY FROM (binary) ─► same type
//!                                                  │
//!                 type OIDs inside arrays and composites rewritten to the target's
//! ```
//!
//! Cheaper still, when every column is read in its own binary form the
//! source relays each whole tuple beside the batch ([`ferry_core::relay`]):
//! the carried columns are placeholders, no value of theirs is split out,
//! and a sink whose columns all have the source's types and need no OID
//! rewritten ([`ColumnEncoding::relays`]) writes the tuples as one byte
//! range per batch. Any other sink, and a dirty record, expands the tuples
//! into the carried columns first, so both paths write the same bytes.
//!
//! Binary `array` and `record` values name their element / attribute types
//! by OID, and the server checks them: a user-defined type (enum, domain,
//! composite, extension type) has another OID in another database, so the
//! sink rewrites those OIDs in place from the target's catalog
//! ([`TypeShape`]). Everything else is opaque bytes the target's own
//! `receive` function checks.
//!
//! A new target gets the source's exact column types ([`resolve_types`]):
//! each `format_type` text must name a type that exists in the target
//! (`to_regtype`, which also proves it is a type name and nothing else);
//! a missing user-defined type is an error naming the type and the column.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Field, FieldRef, Schema};
use arrow::record_batch::RecordBatch;
use ferry_core::{ColumnDef, ColumnType, Error, Result, TableSchema};
use tokio_postgres::Client;

use super::catalog::PgTable;
use super::decode::{decimal_shape, decode_value};
use super::encode::ColumnEncoding;
use super::sink::created_wire;
use super::types::{PgColumn, Wire, ddl_type};
use super::{DIALECT, PgEndpoint, map_err};
use crate::common::builder::ColumnBuilder;

/// The first OID a user-defined object gets (`FirstNormalObjectId`):
/// built-in types below it have the same OID in every database.
const FIRST_USER_OID: u32 = 16384;

/// `schema` with every column of `table` not in `needs_values` carried in
/// its binary form: the values Arrow cannot hold exactly, and the others too,
/// since relaying the source's bytes costs the client a copy where decoding
/// into Arrow and encoding back costs a parse and a format per value (a
/// `numeric` most of all). The key columns Arrow holds exactly stay values,
/// so a refused row is still named by its key (`id=7`).
pub(crate) fn carry_native(
    schema: &TableSchema,
    table: &PgTable,
    needs_values: &[String],
) -> TableSchema {
    let mut out = schema.clone();
    let key = out.primary_key.clone();
    for c in &mut out.columns {
        let Some(pg) = table.column(&c.name) else {
            continue;
        };
        // Only a column described by this table (not a declared schema).
        let described =
            c.dialect == Some(DIALECT) && c.native_type == pg.formatted && c.ty == pg.mapping().0;
        let exact = pg.arrow_exact();
        let names_rows = exact && key.contains(&c.name);
        if described && !names_rows && !needs_values.contains(&c.name) {
            c.ty = ColumnType::Binary;
        }
    }
    out
}

/// Whether a column's values are PostgreSQL binary COPY bytes of
/// `native_type` (rather than Arrow values, or a `bytea`'s own bytes).
pub(crate) fn is_carried(c: &ColumnDef) -> bool {
    c.dialect == Some(DIALECT) && c.ty == ColumnType::Binary && c.native_type != "bytea"
}

/// How a dirty record shows a carried value of a column of type `t`: the
/// Arrow type and wire of its ordinary (Arrow) path, where it has one.
pub(crate) fn shown_as(t: &PgColumn) -> Option<(ColumnType, Wire)> {
    match t.mapping() {
        (ty, Some(wire)) => Some((ty, wire)),
        (_, None) => None,
    }
}

/// A refused row (`row`, as loaded) with each carried column that has an
/// Arrow form ([`ColumnEncoding::shown`]) decoded into it, so its dirty
/// record holds typed values rather than wire bytes. A value that does not
/// decode (an `infinity` date) and a type without an Arrow form (`inet`,
/// ranges, …) stay the bytes they are, shown as hex.
pub(crate) fn shown_row(row: &RecordBatch, encodings: &[ColumnEncoding]) -> RecordBatch {
    let Ok(row) = &ferry_core::relay::expand(row) else {
        return row.clone();
    };
    let schema = row.schema();
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    let mut columns = row.columns().to_vec();
    for (i, enc) in encodings.iter().enumerate() {
        let (Some((ty, wire)), Some(bytes)) = (
            &enc.shown,
            columns.get(i).and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            continue;
        };
        let mut builder = ColumnBuilder::of_type(ty, bytes.len());
        let mut decoded = true;
        for v in bytes.iter() {
            match v {
                None => builder.append_null(),
                Some(v) => {
                    if decode_value(*wire, decimal_shape(ty), v, &mut builder).is_err() {
                        decoded = false;
                        break;
                    }
                }
            }
        }
        if decoded {
            let array = builder.finish_array();
            fields[i] = Arc::new(Field::new(
                fields[i].name(),
                array.data_type().clone(),
                true,
            ));
            columns[i] = array;
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap_or_else(|_| row.clone())
}

/// A type of the target database, as `to_regtype` found it.
#[derive(Debug, Clone)]
pub(crate) struct TargetType {
    /// Its OID in the target database.
    pub oid: u32,
    /// `pg_type.typname`.
    pub typname: String,
    /// Whether it is an enum.
    pub is_enum: bool,
}

/// Looks each `format_type` text up in the target (`None`: no such type).
pub(crate) async fn resolve_types(
    client: &Client,
    ep: &PgEndpoint,
    natives: &[String],
) -> Result<Vec<Option<TargetType>>> {
    let rows = client
        .query(
            "SELECT t.oid, t.typname::text, t.typtype = 'e'
               FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
               LEFT JOIN pg_type t ON t.oid = to_regtype(n.name)
              ORDER BY n.ord",
            &[&natives],
        )
        .await
        .map_err(|e| map_err(&ep.display, "looking up the source's column types", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let oid: Option<u32> = r.get(0);
            oid.map(|oid| TargetType {
                oid,
                typname: r.get(1),
                is_enum: r.get(2),
            })
        })
        .collect())
}

/// The error for a source type the target database does not have.
pub(crate) fn missing_type(table: &str, missing: &[(String, String)]) -> Error {
    Error::Schema {
        table: table.to_string(),
        problems: missing
            .iter()
            .map(|(column, ty)| {
                format!(
                    "column `{column}` has type `{ty}`, which does not exist in the target database: \
                     create it there first with the source's definition (CREATE TYPE / CREATE DOMAIN / \
                     CREATE EXTENSION), then run again"
                )
            })
            .collect(),
    }
}

/// How a new target declares and receives one column.
#[derive(Debug, Clone)]
pub(crate) struct NewColumn {
    /// The column's type in `CREATE TABLE`.
    pub ddl_type: String,
    /// The wire Ferry writes it in.
    pub wire: Wire,
    /// Type OIDs to rewrite inside carried values.
    pub remap: Option<Arc<TypeShape>>,
    /// How a dirty record shows a carried value ([`shown_as`]).
    pub shown: Option<(ColumnType, Wire)>,
}

/// The columns of a new target: a column a PostgreSQL source described
/// gets the source's exact type (when the values Ferry holds are written
/// in that type's wire: always for carried ones); any other column the
/// type of [`ddl_type`] for its Arrow type.
pub(crate) async fn plan_new_columns(
    client: &Client,
    ep: &PgEndpoint,
    table: &str,
    schema: &TableSchema,
) -> Result<Vec<NewColumn>> {
    let natives: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| c.dialect == Some(DIALECT))
        .map(|c| c.native_type.clone())
        .collect();
    let mut found = if natives.is_empty() {
        Vec::new()
    } else {
        resolve_types(client, ep, &natives).await?
    }
    .into_iter();
    let mut out = Vec::with_capacity(schema.columns.len());
    let mut missing = Vec::new();
    for c in &schema.columns {
        let mapped = NewColumn {
            ddl_type: ddl_type(&c.ty, &c.native_type),
            wire: created_wire(&c.ty, &c.native_type),
            remap: None,
            shown: None,
        };
        if c.dialect != Some(DIALECT) {
            out.push(mapped);
            continue;
        }
        let Some(t) = found.next().flatten() else {
            missing.push((c.name.clone(), c.native_type.clone()));
            continue;
        };
        let native = PgColumn {
            name: c.name.clone(),
            typname: t.typname.clone(),
            formatted: c.native_type.clone(),
            typmod: -1,
            not_null: false,
            has_default: false,
            is_enum: t.is_enum,
            type_oid: t.oid,
        };
        if is_carried(c) {
            out.push(NewColumn {
                ddl_type: c.native_type.clone(),
                wire: Wire::Bytea,
                remap: shape_of(client, ep, t.oid).await?.map(Arc::new),
                shown: shown_as(&native),
            });
            continue;
        }
        let native_wire = native.write_wire();
        if native_wire == Some(mapped.wire) {
            out.push(NewColumn {
                ddl_type: c.native_type.clone(),
                ..mapped
            });
        } else {
            out.push(mapped);
        }
    }
    if !missing.is_empty() {
        return Err(missing_type(table, &missing));
    }
    Ok(out)
}

/// Whether a carried column (`c`) fits the existing target column `t`, and
/// with which OID rewrite: the same type, or the same type without a
/// modifier (`numeric` for `numeric(10,2)`). `Err` says why not.
pub(crate) async fn fit_carried(
    client: &Client,
    ep: &PgEndpoint,
    c: &ColumnDef,
    t: &PgColumn,
) -> Result<std::result::Result<Option<Arc<TypeShape>>, String>> {
    let found = resolve_types(client, ep, std::slice::from_ref(&c.native_type))
        .await?
        .pop()
        .flatten();
    let same_modifier = t.formatted == c.native_type || t.typmod < 0;
    // `timestamp` ↔ `timestamptz` share a binary form but not a meaning (a
    // local time would be read as UTC): refused here as on the Arrow path.
    let fits = match &found {
        Some(s) if s.oid == t.type_oid => same_modifier,
        _ => false,
    };
    if !fits {
        return Ok(Err(format!(
            "column `{}`: source type `{}` travels in PostgreSQL's binary form (the exact \
             PostgreSQL → PostgreSQL path) and fits only a target column of that type, not `{}`; \
             change the target column's type, or give the task a transform (then the column \
             travels through Arrow)",
            c.name, c.native_type, t.formatted
        )));
    }
    Ok(Ok(shape_of(client, ep, t.type_oid).await?.map(Arc::new)))
}

/// The carried columns of `schema` the existing `target` cannot take as
/// they are (see [`fit_carried`]); a column the target lacks is left to the
/// sink's own check, which names it.
pub(crate) async fn refused_columns(
    client: &Client,
    ep: &PgEndpoint,
    schema: &TableSchema,
    target: &PgTable,
) -> Result<Vec<String>> {
    let mut refused = Vec::new();
    for c in schema.columns.iter().filter(|c| is_carried(c)) {
        if let Some(t) = target.column(&c.name)
            && fit_carried(client, ep, c, t).await?.is_err()
        {
            refused.push(c.name.clone());
        }
    }
    Ok(refused)
}

/// Where a binary value names types by OID, with the target's OIDs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TypeShape {
    /// No OIDs inside.
    Opaque,
    /// An array: its element type's OID, and the element's shape.
    Array { elem: u32, shape: Box<TypeShape> },
    /// A composite: each live attribute's type OID and shape.
    Composite(Vec<(u32, TypeShape)>),
}

impl TypeShape {
    /// Whether a value of this shape names a user-defined type, whose OID
    /// differs between databases.
    fn names_user_types(&self) -> bool {
        match self {
            TypeShape::Opaque => false,
            TypeShape::Array { elem, shape } => *elem >= FIRST_USER_OID || shape.names_user_types(),
            TypeShape::Composite(attrs) => attrs
                .iter()
                .any(|(oid, s)| *oid >= FIRST_USER_OID || s.names_user_types()),
        }
    }

    /// Rewrites the type OIDs of one COPY field (length word, then the
    /// value) in place; the length of nothing changes.
    pub(crate) fn rewrite_field(&self, field: &mut [u8]) -> Result<(), String> {
        let len = read_i32(field, 0)?;
        if len < 0 {
            return Ok(());
        }
        let value = field
            .get_mut(4..4 + len as usize)
            .ok_or("binary value shorter than its length")?;
        self.rewrite(value)
    }

    fn rewrite(&self, v: &mut [u8]) -> Result<(), String> {
        match self {
            TypeShape::Opaque => Ok(()),
            TypeShape::Array { elem, shape } => {
                let ndim = read_i32(v, 0)?;
                if !(0..=6).contains(&ndim) {
                    return Err(format!("binary array with {ndim} dimensions"));
                }
                write_u32(v, 8, *elem)?;
                let mut items: i64 = if ndim == 0 { 0 } else { 1 };
                for d in 0..ndim as usize {
                    items *= read_i32(v, 12 + 8 * d)?.max(0) as i64;
                }
                let mut pos = 12 + 8 * ndim as usize;
                for _ in 0..items {
                    let n = read_i32(v, pos)?;
                    let end = pos + 4 + n.max(0) as usize;
                    shape.rewrite_field(v.get_mut(pos..end).ok_or("array element cut off")?)?;
                    pos = end;
                }
                Ok(())
            }
            TypeShape::Composite(attrs) => {
                let n = read_i32(v, 0)?;
                if n as usize != attrs.len() {
                    return Err(format!(
                        "composite value has {n} attributes, the target type {}",
                        attrs.len()
                    ));
                }
                let mut pos = 4;
                for (oid, shape) in attrs {
                    write_u32(v, pos, *oid)?;
                    let len = read_i32(v, pos + 4)?;
                    let end = pos + 8 + len.max(0) as usize;
                    shape.rewrite_field(v.get_mut(pos + 4..end).ok_or("attribute cut off")?)?;
                    pos = end;
                }
                Ok(())
            }
        }
    }
}

fn read_i32(b: &[u8], at: usize) -> Result<i32, String> {
    b.get(at..at + 4)
        .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "binary value cut off".to_string())
}

fn write_u32(b: &mut [u8], at: usize, x: u32) -> Result<(), String> {
    b.get_mut(at..at + 4)
        .ok_or_else(|| "binary value cut off".to_string())?
        .copy_from_slice(&x.to_be_bytes());
    Ok(())
}

/// The shape of the target type `oid`, or `None` when its values name no
/// user-defined type (nothing to rewrite).
pub(crate) async fn shape_of(
    client: &Client,
    ep: &PgEndpoint,
    oid: u32,
) -> Result<Option<TypeShape>> {
    let shape = shape(client, ep, oid, &mut HashSet::new()).await?;
    Ok(shape.names_user_types().then_some(shape))
}

fn shape<'a>(
    client: &'a Client,
    ep: &'a PgEndpoint,
    oid: u32,
    seen: &'a mut HashSet<u32>,
) -> futures::future::BoxFuture<'a, Result<TypeShape>> {
    Box::pin(async move {
        // Built-in types (arrays included) hold built-in types only.
        if oid < FIRST_USER_OID {
            return Ok(TypeShape::Opaque);
        }
        if !seen.insert(oid) {
            return Err(Error::Internal(format!("type {oid} contains itself")));
        }
        let row = client
            .query_one(
                "SELECT t.typtype::text, t.typelem, t.typbasetype, t.typrelid,
                        t.typcategory = 'A' AND t.typelem <> 0 AND t.typlen = -1
                   FROM pg_type t WHERE t.oid = $1",
                &[&oid],
            )
            .await
            .map_err(|e| map_err(&ep.display, "reading a column type", e))?;
        let typtype: String = row.get(0);
        let (elem, base, relid, array): (u32, u32, u32, bool) =
            (row.get(1), row.get(2), row.get(3), row.get(4));
        let out = match typtype.as_str() {
            // A domain's binary form is its base type's.
            "d" => shape(client, ep, base, seen).await?,
            "c" => {
                let rows = client
                    .query(
                        "SELECT a.atttypid FROM pg_attribute a
                          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
                          ORDER BY a.attnum",
                        &[&relid],
                    )
                    .await
                    .map_err(|e| map_err(&ep.display, "reading a composite type", e))?;
                let mut attrs = Vec::with_capacity(rows.len());
                for r in rows {
                    let t: u32 = r.get(0);
                    attrs.push((t, shape(client, ep, t, seen).await?));
                }
                TypeShape::Composite(attrs)
            }
            _ if array => TypeShape::Array {
                elem,
                shape: Box::new(shape(client, ep, elem, seen).await?),
            },
            _ => TypeShape::Opaque,
        };
        seen.remove(&oid);
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: &[u8]) -> Vec<u8> {
        let mut f = (value.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(value);
        f
    }

    #[test]
    fn a_refused_row_shows_carried_values_decoded_where_arrow_holds_them() {
        use arrow::array::{BinaryArray, Int64Array};
        use arrow::datatypes::DataType;
        use ferry_core::reject::row_json;
        // numeric 12.50: 2 base-10000 digits, weight 0, sign +, dscale 2.
        let mut num = Vec::new();
        for x in [2i16, 0, 0, 2, 12, 5000] {
            num.extend_from_slice(&x.to_be_bytes());
        }
        let infinity = i32::MAX.to_be_bytes().to_vec();
        let inet = vec![2u8, 32, 0, 4, 10, 0, 0, 1];
        let carried =
            |v: &[u8]| Arc::new(BinaryArray::from(vec![Some(v)])) as arrow::array::ArrayRef;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("price", DataType::Binary, true),
            Field::new("shipped", DataType::Binary, true),
            Field::new("host", DataType::Binary, true),
        ]));
        let row = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![7])),
                carried(&num),
                carried(&infinity),
                carried(&inet),
            ],
        )
        .expect("batch");
        let enc = |name: &str, shown: Option<(ColumnType, Wire)>| ColumnEncoding {
            name: name.into(),
            source: ColumnType::Binary,
            wire: Wire::Bytea,
            remap: None,
            shown,
            relays: true,
        };
        let encodings = [
            ColumnEncoding {
                source: ColumnType::Int64,
                wire: Wire::Int8,
                ..enc("id", None)
            },
            enc(
                "price",
                Some((
                    ColumnType::Decimal {
                        precision: 15,
                        scale: 2,
                    },
                    Wire::Numeric,
                )),
            ),
            enc("shipped", Some((ColumnType::Date, Wire::Date))),
            enc("host", None),
        ];
        let shown = shown_row(&row, &encodings);
        assert_eq!(shown.column(0).len(), 1);
        let json = row_json(&shown, 0);
        assert_eq!(json["id"], serde_json::json!(7));
        assert_eq!(json["price"], serde_json::json!("12.50"));
        // No Arrow value: the bytes as they travelled.
        assert_eq!(json["shipped"], serde_json::json!("\\x7fffffff"));
        assert_eq!(json["host"], serde_json::json!("\\x022000040a000001"));
    }

    #[test]
    fn array_and_composite_oids_are_rewritten_in_place() {
        // A 2×1 array (lower bound 0) of a composite (int4, enum).
        let enum_value = field(b"happy");
        let mut record = 2i32.to_be_bytes().to_vec();
        record.extend_from_slice(&23u32.to_be_bytes());
        record.extend_from_slice(&field(&7i32.to_be_bytes()));
        record.extend_from_slice(&99999u32.to_be_bytes());
        record.extend_from_slice(&enum_value);
        let mut array = Vec::new();
        for x in [2i32, 0, 88888, 2, 0, 1, 0] {
            array.extend_from_slice(&x.to_be_bytes());
        }
        array.extend_from_slice(&field(&record));
        array.extend_from_slice(&(-1i32).to_be_bytes());
        let mut f = field(&array);
        let shape = TypeShape::Array {
            elem: 20001,
            shape: Box::new(TypeShape::Composite(vec![
                (23, TypeShape::Opaque),
                (20002, TypeShape::Opaque),
            ])),
        };
        assert!(shape.names_user_types());
        shape.rewrite_field(&mut f).expect("rewrites");
        let v = &f[4..];
        assert_eq!(&v[8..12], &20001u32.to_be_bytes());
        let rec = &v[12 + 16 + 4..];
        assert_eq!(&rec[4..8], &23u32.to_be_bytes());
        assert_eq!(&rec[16..20], &20002u32.to_be_bytes());
        assert_eq!(&rec[20..20 + enum_value.len()], &enum_value[..]);
        assert_eq!(f.len(), 4 + array.len());
        // A cut-off value is an error, not a panic.
        let mut short = f[..f.len() - 3].to_vec();
        let value_len = (short.len() - 4) as i32;
        short[..4].copy_from_slice(&value_len.to_be_bytes());
        assert!(shape.rewrite_field(&mut short).is_err());
    }
}

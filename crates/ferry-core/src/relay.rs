//! Whole rows relayed in the source's wire form, beside a batch's columns.
//!
//! A copy between two databases of the same kind with no transform needs no
//! value decoded: PostgreSQL → PostgreSQL can hand each binary `COPY TO`
//! tuple to `COPY FROM` as it is. Decoding every value into Arrow and
//! encoding it back was a third of the client's CPU (`bench/`), on a machine
//! whose two cores the servers share.
//!
//! Such a batch keeps its schema's columns, so every step that reads values
//! (cursor, key, merge key: the columns the engine needs) works as before,
//! and adds one last field, [`RELAY_FIELD`], holding each row's whole tuple.
//! The columns no step reads travel only there: their arrays are
//! placeholders (all NULL, no data), marked by the field metadata
//! [`RELAYED_KEY`]. A sink that writes the tuples as they are needs nothing
//! else; anything that reads the values calls [`expand`] first, which fills
//! the placeholders from the tuples with exactly the bytes each field would
//! have had as a column of its own. Filtering and slicing keep row and
//! tuple together (one batch, one row index), so the two never disagree.
//!
//! ```text
//!  tuple: nfields:i16 { len:i32 (-1 = NULL) bytes }*     big-endian (PostgreSQL binary COPY)
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::{Error, Result};

/// The name of the last field of a relaying batch. It holds a NUL, which no
/// SQL identifier can, so it never meets a column of the table.
pub const RELAY_FIELD: &str = "\u{0}ferry.tuples";

/// Field metadata marking a placeholder column: its values travel only in
/// the relayed tuples (value `"true"`).
pub const RELAYED_KEY: &str = "ferry.relayed";

/// `schema` as a relaying batch has it: each field with `relayed[i]` set
/// becomes a nullable placeholder, and the tuples field comes last.
pub fn relay_schema(schema: &Schema, relayed: &[bool]) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if !relayed.get(i).copied().unwrap_or(false) {
                return Field::clone(f);
            }
            let mut md = f.metadata().clone();
            md.insert(RELAYED_KEY.to_string(), "true".to_string());
            Field::clone(f).with_nullable(true).with_metadata(md)
        })
        .collect();
    let marker = HashMap::from([(RELAYED_KEY.to_string(), "tuples".to_string())]);
    fields.push(Field::new(RELAY_FIELD, DataType::Binary, false).with_metadata(marker));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The relayed tuples of `batch`, one per row, if it carries them: its last
/// field is named [`RELAY_FIELD`] *and* marked so by Ferry (a name alone,
/// which a file's header could hold, is not enough).
pub fn tuples(batch: &RecordBatch) -> Option<&BinaryArray> {
    let last = batch.num_columns().checked_sub(1)?;
    if !is_tuples_field(batch.schema_ref().field(last)) {
        return None;
    }
    batch.column(last).as_binary_opt::<i32>()
}

/// Whether `field` is the tuples field of a relaying batch.
pub fn is_tuples_field(field: &Field) -> bool {
    field.name() == RELAY_FIELD
        && field.metadata().get(RELAYED_KEY).map(String::as_str) == Some("tuples")
}

/// Whether `field` is a placeholder whose values are in the tuples.
pub fn is_relayed(field: &Field) -> bool {
    field
        .metadata()
        .get(RELAYED_KEY)
        .is_some_and(|v| v == "true")
}

/// The tuples of rows `0..n` as one contiguous byte range (a valid body of
/// a binary COPY), if `batch` relays.
pub fn tuple_bytes(batch: &RecordBatch) -> Option<&[u8]> {
    let t = tuples(batch)?;
    let offsets = t.value_offsets();
    let (start, end) = (offsets[0] as usize, offsets[t.len()] as usize);
    Some(&t.value_data()[start..end])
}

/// All-NULL placeholder arrays for `rows` rows of a relayed binary column.
pub fn placeholder(rows: usize) -> ArrayRef {
    Arc::new(BinaryArray::new_null(rows))
}

/// `batch` with every placeholder filled from its tuple field and that
/// field removed; a batch that does not relay, as it is.
pub fn expand(batch: &RecordBatch) -> Result<RecordBatch> {
    let Some(tuples) = tuples(batch) else {
        return Ok(batch.clone());
    };
    let schema = batch.schema();
    let columns = batch.num_columns() - 1;
    let relayed: Vec<bool> = schema.fields()[..columns]
        .iter()
        .map(|f| is_relayed(f))
        .collect();
    let mut builders: HashMap<usize, BinaryBuilder> = relayed
        .iter()
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(i, _)| (i, BinaryBuilder::with_capacity(batch.num_rows(), 0)))
        .collect();
    for row in 0..batch.num_rows() {
        let tuple = tuples.value(row);
        let bad = |what: &str| Error::Internal(format!("relayed tuple of row {row}: {what}"));
        let nfields = i16::from_be_bytes(
            tuple
                .get(..2)
                .ok_or_else(|| bad("cut off"))?
                .try_into()
                .map_err(|_| bad("cut off"))?,
        );
        if nfields as usize != columns {
            return Err(bad(&format!("{nfields} fields, the batch has {columns}")));
        }
        let mut p = 2;
        for (i, relayed) in relayed.iter().enumerate() {
            let len = tuple
                .get(p..p + 4)
                .and_then(|b| b.try_into().ok())
                .map(i32::from_be_bytes)
                .ok_or_else(|| bad("cut off"))?;
            p += 4;
            let value = if len < 0 {
                None
            } else {
                let v = tuple
                    .get(p..p + len as usize)
                    .ok_or_else(|| bad("cut off"))?;
                p += len as usize;
                Some(v)
            };
            if *relayed && let Some(b) = builders.get_mut(&i) {
                b.append_option(value);
            }
        }
    }
    let mut fields = Vec::with_capacity(columns);
    let mut arrays = Vec::with_capacity(columns);
    for (i, f) in schema.fields()[..columns].iter().enumerate() {
        match builders.get_mut(&i) {
            Some(b) => {
                let mut md = f.metadata().clone();
                md.remove(RELAYED_KEY);
                fields.push(Field::clone(f).with_metadata(md));
                arrays.push(Arc::new(b.finish()) as ArrayRef);
            }
            None => {
                fields.push(Field::clone(f));
                arrays.push(batch.column(i).clone());
            }
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        arrays,
    )
    .map_err(|e| Error::Internal(format!("expanding relayed tuples: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::compute::filter_record_batch;

    fn tuple(id: i64, a: Option<&[u8]>, b: Option<&[u8]>) -> Vec<u8> {
        let mut t = 3i16.to_be_bytes().to_vec();
        t.extend_from_slice(&8i32.to_be_bytes());
        t.extend_from_slice(&id.to_be_bytes());
        for v in [a, b] {
            match v {
                None => t.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    t.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    t.extend_from_slice(v);
                }
            }
        }
        t
    }

    fn relaying() -> RecordBatch {
        let plain = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("a", DataType::Binary, false),
            Field::new("b", DataType::Binary, true),
        ]);
        let schema = relay_schema(&plain, &[false, true, true]);
        let rows = [
            tuple(1, Some(b"x"), None),
            tuple(2, Some(b""), Some(b"yz")),
            tuple(3, Some(b"abc"), Some(b"q")),
        ];
        let tuples: BinaryArray = rows.iter().map(|t| Some(t.as_slice())).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                placeholder(3),
                placeholder(3),
                Arc::new(tuples),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn expand_fills_placeholders_with_each_fields_bytes() {
        let batch = relaying();
        let out = expand(&batch).expect("expanded");
        assert_eq!(out.num_columns(), 3);
        let a = out.column(1).as_binary::<i32>();
        let b = out.column(2).as_binary::<i32>();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![Some(&b"x"[..]), Some(&b""[..]), Some(&b"abc"[..])]
        );
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            vec![None, Some(&b"yz"[..]), Some(&b"q"[..])]
        );
        assert!(!is_relayed(out.schema_ref().field(1)));
    }

    #[test]
    fn filtered_and_sliced_rows_keep_their_tuples() {
        let batch = relaying();
        let kept = filter_record_batch(
            &batch,
            &arrow::array::BooleanArray::from(vec![true, false, true]),
        )
        .expect("filter");
        let out = expand(&kept.slice(1, 1)).expect("expanded");
        assert_eq!(
            out.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            3
        );
        assert_eq!(out.column(1).as_binary::<i32>().value(0), b"abc");
        let body = tuple_bytes(&kept).expect("relays");
        let mut expected = tuple(1, Some(b"x"), None);
        expected.extend(tuple(3, Some(b"abc"), Some(b"q")));
        assert_eq!(body, expected.as_slice());
    }

    #[test]
    fn a_column_merely_named_like_the_tuples_is_not_taken_for_them() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            RELAY_FIELD,
            DataType::Binary,
            false,
        )]));
        let values: BinaryArray = vec![Some(&b"\x00\x05"[..])].into_iter().collect();
        let batch = RecordBatch::try_new(schema, vec![Arc::new(values)]).expect("batch");
        assert!(tuples(&batch).is_none());
        assert_eq!(expand(&batch).expect("as it is"), batch);
    }

    #[test]
    fn a_batch_without_tuples_is_left_as_it_is() {
        let batch = expand(&relaying()).expect("expanded");
        assert!(tuples(&batch).is_none());
        assert_eq!(expand(&batch).expect("same"), batch);
    }
}

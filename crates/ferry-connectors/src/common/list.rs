//! The Arrow builder of a `list<T>` column: the elements go into an ordinary
//! [`ColumnBuilder`] of the element type, so every decoder that can append a
//! scalar can append a list element too; each list is closed with
//! [`ListColumn::append`], which records where it ends.
//!
//! ```text
//!  values():  1  NULL  3 | (empty) | 7      element builder (any ColumnBuilder)
//!  append():           ▲ true    ▲ true ▲ true
//!  offsets:   0          3         3      4
//! ```
//!
//! A list that fails half-way (a bad element) is dropped with
//! [`ListColumn::discard_open`], so the column is left exactly as before the
//! row, like a scalar column whose value failed.

use std::sync::Arc;

use arrow::array::{ArrayRef, ListArray, NullBufferBuilder};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{Field, FieldRef};
use ferry_core::ColumnType;

use super::builder::ColumnBuilder;

/// Builds a `ListArray` whose elements are of one [`ColumnType`].
pub struct ListColumn {
    field: FieldRef,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    values: Box<ColumnBuilder>,
    /// Elements already taken out of `values` by [`ListColumn::discard_open`].
    frozen: Vec<ArrayRef>,
    frozen_len: usize,
}

impl ListColumn {
    /// An empty builder of lists of `elem`, sized for about `capacity` lists.
    pub fn new(elem: &ColumnType, capacity: usize) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        ListColumn {
            field: Arc::new(Field::new_list_field(elem.arrow_type(), true)),
            offsets,
            nulls: NullBufferBuilder::new(capacity),
            values: Box::new(ColumnBuilder::of_type(elem, capacity)),
            frozen: Vec::new(),
            frozen_len: 0,
        }
    }

    /// The element builder: append the elements of the current list here,
    /// then close it with [`ListColumn::append`].
    pub fn values(&mut self) -> &mut ColumnBuilder {
        &mut self.values
    }

    /// Closes the current list with the elements appended since the last
    /// call; `valid: false` makes it NULL (append no elements for a NULL).
    pub fn append(&mut self, valid: bool) {
        self.offsets
            .push((self.frozen_len + self.values.len()) as i32);
        self.nulls.append(valid);
    }

    /// Drops the elements appended since the last [`ListColumn::append`]
    /// (a list that failed half-way): the next list starts clean.
    pub fn discard_open(&mut self) {
        let closed = *self.offsets.last().unwrap_or(&0) as usize - self.frozen_len;
        if self.values.len() == closed {
            return;
        }
        // Rare (only after a bad element): keep the closed elements aside.
        let kept = self.values.finish_array().slice(0, closed);
        self.frozen_len += kept.len();
        self.frozen.push(kept);
    }

    /// Appends a NULL list.
    pub fn append_null(&mut self) {
        self.append(false);
    }

    /// Lists appended since the last finish.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether no list was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lists appended so far; the builder starts empty again.
    pub fn finish(&mut self) -> ArrayRef {
        let mut values = self.values.finish_array();
        if !self.frozen.is_empty() {
            let mut parts = std::mem::take(&mut self.frozen);
            parts.push(values);
            let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            // Same element type throughout, so concatenation cannot fail.
            values = arrow::compute::concat(&refs).unwrap_or_else(|_| parts[0].clone());
            self.frozen_len = 0;
        }
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let nulls = self.nulls.finish();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        Arc::new(ListArray::new(self.field.clone(), offsets, values, nulls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    fn push(b: &mut ColumnBuilder, v: i32) {
        if let ColumnBuilder::Int32(b) = b {
            b.append_value(v);
        }
    }

    #[test]
    fn builds_lists_and_drops_a_list_that_failed_half_way() {
        let mut l = ListColumn::new(&ColumnType::Int32, 4);
        push(l.values(), 1);
        l.values().append_null();
        l.append(true);
        l.append_null();
        push(l.values(), 7);
        push(l.values(), 8);
        l.discard_open(); // the list of 7, 8 failed
        push(l.values(), 3);
        l.append(true);
        l.append(true);
        let a = l.finish();
        let a = a.as_list::<i32>();
        assert_eq!(a.len(), 4);
        assert_eq!(a.value_offsets(), &[0, 2, 2, 3, 3]);
        assert!(a.is_null(1) && !a.is_null(3));
        assert_eq!(a.value(2).as_primitive::<Int32Type>().value(0), 3);
        assert_eq!(a.values().len(), 3);
        assert!(l.is_empty());
    }
}

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
        self.offsets.push(self.values.len() as i32);
        self.nulls.append(valid);
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
        let values = self.values.finish_array();
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let nulls = self.nulls.finish();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        Arc::new(ListArray::new(self.field.clone(), offsets, values, nulls))
    }
}

//! The former home of the schedule math, kept for its callers: [`Grid`] is
//! [`Schedule`](crate::schedule::Schedule) under its old name.

pub use crate::schedule::{MAX_TIMES, Schedule as Grid};

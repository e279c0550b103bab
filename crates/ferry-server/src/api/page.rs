//! How every list endpoint pages: `?limit=N&offset=M` in (limit 1–500,
//! default 50), `{items, total, limit, offset}` out, so a client reads
//! `/tasks`, `/connections` and `/instances` the same way.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};

/// Largest page.
pub const MAX_LIMIT: i64 = 500;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 50;

/// The page asked for.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

impl PageQuery {
    /// Checks the bounds; errors name `limit` or `offset`.
    pub fn paging(self) -> ApiResult<Paging> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if !(0..=i64::from(i32::MAX)).contains(&offset) {
            return Err(ApiError::invalid(
                "offset",
                format!("must be between 0 and {}", i32::MAX),
            ));
        }
        Ok(Paging { limit, offset })
    }
}

impl Paging {
    /// The page of `all`, and how many there are in all.
    pub fn slice<T>(self, all: Vec<T>) -> (Vec<T>, i64) {
        let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(self.limit).unwrap_or(0);
        (all.into_iter().skip(skip).take(take).collect(), total)
    }
}

/// Declares the page type of a list endpoint: `{items, total, limit, offset}`.
macro_rules! page_of {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            /// This page's items.
            pub items: Vec<$item>,
            /// How many there are in all.
            pub total: i64,
            /// Page size.
            pub limit: i64,
            /// Rows skipped.
            pub offset: i64,
        }

        impl $name {
            /// The page of `all` that `paging` asks for.
            pub fn of(all: Vec<$item>, paging: $crate::api::page::Paging) -> $name {
                let (items, total) = paging.slice(all);
                $name {
                    items,
                    total,
                    limit: paging.limit,
                    offset: paging.offset,
                }
            }
        }
    };
}
pub(crate) use page_of;

//! Paging by id for the admin API's append-only logs (audit, change events):
//! `?after=ID&limit=N`, unknown parameters refused.

use serde::Deserialize;

use crate::http::ApiError;
use crate::http::extract::query;

/// Largest page.
pub const MAX_LIMIT: u32 = 1000;
/// The page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `(after, limit)` from the raw query: `after` ≥ 0 (default 0), `limit` in
/// 1..=`MAX_LIMIT` (default `DEFAULT_LIMIT`), else 400.
pub fn after_and_limit(raw: Option<&str>) -> Result<(i64, u32), ApiError> {
    let page: Page = query(raw)?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit must be 1..={MAX_LIMIT}")));
    }
    Ok((page.after.unwrap_or(0).max(0), limit))
}

//! Relay connection helpers: bounded page sizes and opaque cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;

/// Default and largest page size.
pub const DEFAULT_PAGE: i32 = 50;
/// Largest page size.
pub const MAX_PAGE: i32 = 500;

/// Checks `first` (1..=500, default 50).
pub fn page_size(first: Option<i32>) -> Result<u64, AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&first) {
        Ok(first as u64)
    } else {
        Err(AppError::bad_input(
            "first",
            format!("must be between 1 and {MAX_PAGE}"),
        ))
    }
}

/// Encodes a cursor.
pub fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a cursor; the error names `after`.
pub fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::bad_input("after", "not a cursor this server issued"))
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says there is a next page.
pub fn connection<R, T, E>(
    mut rows: Vec<R>,
    limit: u64,
    has_previous: bool,
    cursor: impl Fn(&R) -> String,
    node: impl Fn(R) -> Result<T, E>,
) -> Result<async_graphql::connection::Connection<String, T>, E>
where
    T: async_graphql::OutputType,
{
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut page = async_graphql::connection::Connection::new(has_previous, has_next);
    for row in rows {
        let key = encode_cursor(&cursor(&row));
        page.edges
            .push(async_graphql::connection::Edge::new(key, node(row)?));
    }
    Ok(page)
}

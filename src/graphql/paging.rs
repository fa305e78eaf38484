//! Relay connections over keyset paging: `first`/`after` forward, `last`/`before` backward,
//! bounded page sizes, opaque cursors, and a `totalCount` computed only when asked for.
//!
//! A list names its unique key (one column, or several from most to least significant) and the
//! order it is shown in; a cursor is the key of a row. Paging never skips or repeats a row
//! while rows are added, and costs the same on page 1 and page 1000.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Enum, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Value,
};

use crate::error::AppError;

/// Default page size.
pub const DEFAULT_PAGE: i32 = 50;
/// Largest page size.
pub const MAX_PAGE: i32 = 500;

fn checked_size(field: &str, size: Option<i32>) -> Result<u64, AppError> {
    let size = size.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&size) {
        Ok(size as u64)
    } else {
        Err(AppError::bad_input(
            field,
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
    decode_named("after", cursor)
}

fn decode_named(field: &str, cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, "not a cursor this server issued"))
}

/// Which way a list is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Order {
    /// Oldest (or lowest) first.
    OldestFirst,
    /// Newest (or highest) first.
    NewestFirst,
}

/// The paging arguments every connection takes.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    /// Rows after `after`, at most this many.
    pub first: Option<i32>,
    /// Cursor to page forward from.
    pub after: Option<String>,
    /// Rows before `before`, at most this many (the end of the list without `before`).
    pub last: Option<i32>,
    /// Cursor to page backward from.
    pub before: Option<String>,
}

impl PageArgs {
    /// The four Relay arguments, as a resolver receives them.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        PageArgs {
            first,
            after,
            last,
            before,
        }
    }
}

/// One column of a list's key, and how its cursor part reads.
#[derive(Debug, Clone, Copy)]
pub enum KeyPart<C> {
    /// A text column.
    Text(C),
    /// A 64-bit integer column.
    Int(C),
    /// A UTC timestamp column; its cursor part is nanoseconds since the epoch.
    Time(C),
}

impl<C: Copy> KeyPart<C> {
    fn column(self) -> C {
        match self {
            KeyPart::Text(c) | KeyPart::Int(c) | KeyPart::Time(c) => c,
        }
    }
}

/// A timestamp as a cursor part (see [`KeyPart::Time`]).
pub fn time_key(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX).to_string()
}

/// A list's unique key, most significant column first, and the order it is shown in.
pub struct Keyset<E: EntityTrait> {
    /// The key's columns.
    pub parts: Vec<KeyPart<E::Column>>,
    /// The order rows are shown in.
    pub order: Order,
    /// The key of a row, as cursor text (its parts joined by `|`).
    pub key_of: fn(&E::Model) -> String,
}

impl<E: EntityTrait> Keyset<E> {
    /// A key of one text column (a generated id, which sorts by creation time).
    pub fn by_text(column: E::Column, order: Order, key_of: fn(&E::Model) -> String) -> Self {
        Keyset {
            parts: vec![KeyPart::Text(column)],
            order,
            key_of,
        }
    }
}

/// A page of rows in display order, and whether there are more either side.
#[derive(Debug)]
pub struct Page<M> {
    /// The rows.
    pub rows: Vec<M>,
    /// Rows exist before the first.
    pub has_previous: bool,
    /// Rows exist after the last.
    pub has_next: bool,
}

/// Reads a page of `select` (already filtered) in `keyset`'s order.
pub async fn page<E>(
    db: &DatabaseConnection,
    select: Select<E>,
    keyset: &Keyset<E>,
    args: &PageArgs,
) -> Result<Page<E::Model>, AppError>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let backward = match (args.first, &args.after, args.last, &args.before) {
        (Some(_), _, Some(_), _) => {
            return Err(AppError::bad_input(
                "last",
                "use `first` (with `after`) or `last` (with `before`), not both",
            ));
        }
        (_, Some(_), _, Some(_)) => {
            return Err(AppError::bad_input(
                "before",
                "use `after` (with `first`) or `before` (with `last`), not both",
            ));
        }
        (Some(_), _, _, Some(_)) => {
            return Err(AppError::bad_input("before", "`before` pages with `last`"));
        }
        (_, Some(_), Some(_), _) => {
            return Err(AppError::bad_input("after", "`after` pages with `first`"));
        }
        (None, None, Some(_), _) | (None, None, None, Some(_)) => true,
        _ => false,
    };
    let (field, size, cursor) = if backward {
        ("last", args.last, args.before.as_deref())
    } else {
        ("first", args.first, args.after.as_deref())
    };
    let limit = checked_size(field, size)?;
    // Forward in an ascending list, or backward in a descending one, reads increasing keys.
    let ascending = (keyset.order == Order::OldestFirst) != backward;
    let mut select = select;
    if let Some(cursor) = cursor {
        let cursor_field = if backward { "before" } else { "after" };
        let values = parse_cursor(cursor_field, cursor, &keyset.parts)?;
        select = select.filter(beyond(&keyset.parts, &values, ascending));
    }
    for part in &keyset.parts {
        select = if ascending {
            select.order_by_asc(part.column())
        } else {
            select.order_by_desc(part.column())
        };
    }
    let mut rows = select.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if backward {
        rows.reverse();
        Ok(Page {
            rows,
            has_previous: more,
            has_next: cursor.is_some(),
        })
    } else {
        Ok(Page {
            rows,
            has_previous: cursor.is_some(),
            has_next: more,
        })
    }
}

fn parse_cursor<C: Copy>(
    field: &str,
    cursor: &str,
    parts: &[KeyPart<C>],
) -> Result<Vec<Value>, AppError> {
    let raw = decode_named(field, cursor)?;
    let pieces: Vec<&str> = if parts.len() == 1 {
        vec![raw.as_str()]
    } else {
        raw.splitn(parts.len(), '|').collect()
    };
    if pieces.len() != parts.len() {
        return Err(AppError::bad_input(
            field,
            "not a cursor this server issued",
        ));
    }
    parts
        .iter()
        .zip(pieces)
        .map(|(part, piece)| match part {
            KeyPart::Text(_) => Ok(Value::from(piece.to_owned())),
            KeyPart::Int(_) => piece
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| AppError::bad_input(field, "not a cursor this server issued")),
            KeyPart::Time(_) => piece
                .parse::<i64>()
                .map(|nanos| Value::from(chrono::DateTime::from_timestamp_nanos(nanos)))
                .map_err(|_| AppError::bad_input(field, "not a cursor this server issued")),
        })
        .collect()
}

/// Rows whose key lies beyond `values` in the reading direction: for keys (a, b),
/// `a > x OR (a = x AND b > y)` (with `<` reading downwards).
fn beyond<C: ColumnTrait + Copy>(
    parts: &[KeyPart<C>],
    values: &[Value],
    ascending: bool,
) -> Condition {
    let mut any = Condition::any();
    for i in 0..parts.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(parts[j].column().eq(values[j].clone()));
        }
        let column = parts[i].column();
        let step: SimpleExpr = if ascending {
            column.gt(values[i].clone())
        } else {
            column.lt(values[i].clone())
        };
        any = any.add(all.add(step));
    }
    any
}

type Counter =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>> + Send + Sync;

/// A connection's `totalCount`, counted only when a client asks for it.
#[derive(Clone)]
pub struct TotalCount(Arc<Counter>);

impl TotalCount {
    /// Counts the rows of `select` (its filters, not the page's).
    pub fn of<E>(db: &DatabaseConnection, select: Select<E>) -> TotalCount
    where
        E: EntityTrait,
        E::Model: Send + Sync,
        Select<E>: Clone + Send + 'static,
    {
        let db = db.clone();
        TotalCount(Arc::new(move || {
            let db = db.clone();
            let select = select.clone();
            Box::pin(async move { Ok(select.count(&db).await?) })
        }))
    }
}

#[Object]
impl TotalCount {
    /// How many items the list holds with these filters, all pages together.
    async fn total_count(&self) -> Result<i32, AppError> {
        let count = (self.0)().await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// A page as a Relay connection with `totalCount`.
pub type Counted<T> = Connection<String, T, TotalCount>;

/// Turns a page into a connection: each row's cursor from `keyset`, its node from `node`.
pub fn counted<M, T, E>(
    page: Page<M>,
    key_of: fn(&M) -> String,
    total: TotalCount,
    node: impl Fn(M) -> Result<T, E>,
) -> Result<Counted<T>, E>
where
    T: async_graphql::OutputType,
{
    let mut connection =
        Connection::with_additional_fields(page.has_previous, page.has_next, total);
    for row in page.rows {
        let cursor = encode_cursor(&key_of(&row));
        connection.edges.push(Edge::new(cursor, node(row)?));
    }
    Ok(connection)
}

/// Reads a page of `select` and turns it into a counted connection.
pub async fn paged<E, T, X>(
    db: &DatabaseConnection,
    select: Select<E>,
    keyset: &Keyset<E>,
    args: &PageArgs,
    node: impl Fn(E::Model) -> Result<T, X>,
) -> Result<Counted<T>, AppError>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    Select<E>: Clone + Send + 'static,
    T: async_graphql::OutputType,
    AppError: From<X>,
{
    let total = TotalCount::of(db, select.clone());
    let page = page(db, select, keyset, args).await?;
    Ok(counted(page, keyset.key_of, total, node)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::segment;
    use sea_orm::{DbBackend, QueryTrait};

    fn sql(condition: Condition) -> String {
        segment::Entity::find()
            .filter(condition)
            .build(DbBackend::Postgres)
            .to_string()
    }

    #[test]
    fn a_composite_key_pages_past_ties_on_its_first_column() {
        let parts = [
            KeyPart::Int(segment::Column::StartMs),
            KeyPart::Text(segment::Column::Id),
        ];
        let values = parse_cursor("after", &encode_cursor("1700|seg_9"), &parts).unwrap();
        let up = sql(beyond(&parts, &values, true));
        assert!(
            up.contains(r#""start_ms" > 1700 OR ("segments"."start_ms" = 1700 AND "segments"."id" > 'seg_9')"#)
                || up.contains(r#""segments"."start_ms" > 1700 OR ("segments"."start_ms" = 1700 AND "segments"."id" > 'seg_9')"#),
            "{up}"
        );
        let down = sql(beyond(&parts, &values, false));
        assert!(down.contains(r#"."start_ms" < 1700 OR ("segments"."start_ms" = 1700 AND "segments"."id" < 'seg_9')"#), "{down}");
    }

    #[test]
    fn a_cursor_of_the_wrong_shape_names_its_field() {
        let parts = [KeyPart::Int(segment::Column::StartMs)];
        let err = parse_cursor("before", &encode_cursor("abc"), &parts).unwrap_err();
        assert!(matches!(err, AppError::BadUserInput { ref field, .. } if field == "before"));
        assert!(parse_cursor("after", "%%%", &parts).is_err());
    }
}

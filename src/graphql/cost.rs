//! What a field costs, counted by what it produces: a list costs its children once per item
//! it can return (a page size, cameras × buckets, ids asked for), so a document's complexity
//! bounds the size of its answer, not just the number of fields written in it.
//!
//! Used in `#[graphql(complexity = "…")]` expressions; async-graphql adds the costs up while
//! validating and refuses a document over `HELDAR_MAX_QUERY_COMPLEXITY` before it runs.

use chrono::{DateTime, Utc};

use crate::footage::model::Bucket;
use crate::graphql::paging::{DEFAULT_PAGE, MAX_PAGE};

/// A list of `items` things, each costing `child`.
pub fn list(items: usize, child: usize) -> usize {
    1usize.saturating_add(items.saturating_mul(child.max(1)))
}

/// A Relay connection: the page size asked for (`first` or `last`, default 50, at most 500)
/// times what one edge costs.
pub fn page(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first.or(last).unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    list(size as usize, child)
}

/// A timeline: cameras × buckets in the window (as many as the bucket size allows), times
/// what one camera's bucket costs.
pub fn timeline(
    cameras: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    child: usize,
) -> usize {
    let window = (to - from).min(bucket.max_window()).num_seconds().max(0) as usize;
    let size = match bucket {
        Bucket::Minute => 60,
        Bucket::Hour => 3600,
        Bucket::Day => 86_400,
    };
    let buckets = window.div_ceil(size) + 1;
    list(cameras.saturating_mul(buckets), child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_size_of_the_answer() {
        assert_eq!(page(None, None, 3), 151);
        assert_eq!(
            page(Some(10_000), None, 3),
            1501,
            "clamped as the resolver clamps"
        );
        let from = DateTime::parse_from_rfc3339("2016-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let to = from + chrono::Duration::days(3650);
        // 64 cameras, ten years of days, 7 fields a bucket: far over any sane limit.
        assert!(timeline(64, from, to, Bucket::Day, 7) > 1_000_000);
        // One camera, one day of hours.
        let day = from + chrono::Duration::days(1);
        assert_eq!(timeline(1, from, day, Bucket::Hour, 7), 1 + 25 * 7);
    }
}

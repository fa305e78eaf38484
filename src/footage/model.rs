//! Coverage, gaps and timeline buckets: pure functions over segment spans, time passed in.
//!
//! Tolerances follow the reference kernel: footage separated by at most 2 whole seconds is one
//! continuous range (recorders leave small seams between segments); a hole is a gap only when
//! longer than 2 s. One change: ranges and gaps are clipped to the requested window, so covered
//! seconds never exceed the window (the reference reported unclipped ranges).

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
pub use entity::vocab::GapReason;

use crate::error::AppError;

/// Seams of up to this many whole seconds join two segments into one range.
pub const JOIN_TOLERANCE_S: i64 = 2;
/// A hole must be longer than this (seconds) to be a gap.
pub const GAP_MIN_S: f64 = 2.0;
/// Spans whose seam is shorter than this (ms) are one range: the model's "at most 2 whole
/// seconds" (durations truncate toward zero, so 2.999 s still joins).
pub const JOIN_MS: i64 = (JOIN_TOLERANCE_S + 1) * 1000;

/// Joins spans in epoch ms, sorted by start, whose seams are under [`JOIN_MS`] (overlaps
/// join too): the rule stored ranges and pruned gaps follow.
pub fn join_spans_ms(spans: impl IntoIterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut joined: Vec<(i64, i64)> = Vec::new();
    for (start, end) in spans {
        match joined.last_mut() {
            Some(last) if start - last.1 < JOIN_MS => last.1 = last.1.max(end),
            _ => joined.push((start, end)),
        }
    }
    joined
}

/// A validated, non-empty window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
}

impl TimeRange {
    /// A window; `to` must be after `from` and the window at most `max`. Errors name `to`.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max: Duration,
    ) -> Result<TimeRange, AppError> {
        if to <= from {
            return Err(AppError::bad_input("to", "must be after `from`"));
        }
        if to - from > max {
            return Err(AppError::bad_input(
                "to",
                format!("the window may span at most {} hours", max.num_hours()),
            ));
        }
        Ok(TimeRange { from, to })
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        secs(self.to - self.from)
    }
}

/// RFC 3339 (UTC, `Z`) of a time in ms since the epoch.
pub fn ms_to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Continuous footage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
}

/// Missing footage inside a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
    /// Length in seconds.
    pub seconds: f64,
}

/// Joins segment spans (sorted by start) into continuous ranges.
pub fn coalesce(spans: impl IntoIterator<Item = (DateTime<Utc>, DateTime<Utc>)>) -> Vec<Range> {
    let mut ranges: Vec<Range> = Vec::new();
    for (start, end) in spans {
        match ranges.last_mut() {
            // Whole seconds, truncated toward zero; overlaps (negative) join too.
            Some(last) if (start - last.end).num_seconds() <= JOIN_TOLERANCE_S => {
                if end > last.end {
                    last.end = end;
                }
            }
            _ => ranges.push(Range { start, end }),
        }
    }
    ranges
}

/// Ranges clipped to the window (empty ones dropped).
pub fn clip(ranges: &[Range], window: TimeRange) -> Vec<Range> {
    ranges
        .iter()
        .map(|r| Range {
            start: r.start.max(window.from),
            end: r.end.min(window.to),
        })
        .filter(|r| r.end > r.start)
        .collect()
}

/// The gaps of a window: before the first range, between ranges, after the last; each longer than 2 s.
pub fn gaps(ranges: &[Range], window: TimeRange) -> Vec<Gap> {
    let clipped = clip(ranges, window);
    let mut cursor = window.from;
    let mut out = Vec::new();
    let mut push = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let seconds = secs(to - from);
        if seconds > GAP_MIN_S {
            out.push(Gap { from, to, seconds });
        }
    };
    for range in &clipped {
        if range.start > cursor {
            push(cursor, range.start);
        }
        cursor = cursor.max(range.end);
    }
    if window.to > cursor {
        push(cursor, window.to);
    }
    out
}

/// Seconds of `ranges` inside `[from, to)`.
pub fn covered_seconds(ranges: &[Range], from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ranges
        .iter()
        .map(|r| {
            let start = r.start.max(from);
            let end = r.end.min(to);
            if end > start { secs(end - start) } else { 0.0 }
        })
        .sum()
}

/// Timeline bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Bucket {
    /// One minute; windows of up to 1 day.
    Minute,
    /// One hour, starting on the hour in the requested time zone; windows of up to 93 days.
    Hour,
    /// One local day (23 or 25 hours on DST changes).
    Day,
}

impl Bucket {
    /// Longest window allowed for this bucket size.
    pub fn max_window(self) -> Duration {
        match self {
            Bucket::Minute => Duration::days(1),
            Bucket::Hour => Duration::days(93),
            Bucket::Day => Duration::days(3660),
        }
    }
}

/// Parses an IANA time zone name; the error names `field`.
pub fn parse_time_zone(field: &str, name: &str) -> Result<Tz, AppError> {
    name.trim().parse::<Tz>().map_err(|_| {
        AppError::bad_input(
            field,
            format!("`{name}` is not an IANA time zone (e.g. Europe/Berlin)"),
        )
    })
}

/// Start of the bucket containing `t`, in `tz`.
fn floor(t: DateTime<Utc>, bucket: Bucket, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    match bucket {
        Bucket::Minute => {
            t - Duration::seconds(i64::from(local.second()))
                - Duration::nanoseconds(i64::from(local.nanosecond()))
        }
        Bucket::Hour => {
            t - Duration::minutes(i64::from(local.minute()))
                - Duration::seconds(i64::from(local.second()))
                - Duration::nanoseconds(i64::from(local.nanosecond()))
        }
        Bucket::Day => local_midnight(local.date_naive(), tz),
    }
}

/// The first instant of a local date (midnight, or the first hour that exists on that date).
fn local_midnight(date: chrono::NaiveDate, tz: Tz) -> DateTime<Utc> {
    for hour in 0..24 {
        let naive = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default());
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    date.and_time(NaiveTime::default()).and_utc()
}

/// The bucket boundaries covering a window: `[(start, end)]`, first start ≤ `from`, last end ≥ `to`.
pub fn buckets(window: TimeRange, bucket: Bucket, tz: Tz) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = floor(window.from, bucket, tz);
    while start < window.to {
        let end = match bucket {
            Bucket::Minute => start + Duration::minutes(1),
            Bucket::Hour => floor(start + Duration::hours(1), Bucket::Hour, tz)
                .max(start + Duration::minutes(1)),
            Bucket::Day => {
                let date = start.with_timezone(&tz).date_naive();
                let next = date.succ_opt().unwrap_or(date);
                local_midnight(next, tz).max(start + Duration::hours(1))
            }
        };
        out.push((start, end));
        start = end;
    }
    out
}

/// A local calendar date, for labels.
pub fn local_label(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}{}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.format("%:z")
    )
}

/// The stored reason of the first recorded gap overlapping `[from_ms, to_ms)`: why a hole
/// found in the ranges is there, when the recorder knew.
pub fn explain(
    from_ms: i64,
    to_ms: i64,
    recorded: &[entity::recording_gap::Model],
) -> Option<GapReason> {
    recorded
        .iter()
        .find(|r| r.gap_start.timestamp_millis() < to_ms && r.gap_end.timestamp_millis() > from_ms)
        .map(|r| r.reason)
}

/// What changed on a camera's footage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CoverageChangeKind {
    /// A segment was indexed.
    SegmentIndexed,
    /// A segment was deleted.
    SegmentDeleted,
    /// A gap was recorded.
    GapOpened,
}

/// A change to a camera's footage; refetch the affected window.
#[derive(SimpleObject, Clone, Debug)]
pub struct CoverageChange {
    /// Id of the camera whose footage changed.
    pub camera_id: ID,
    /// Whether a segment was indexed or deleted, or a gap was recorded.
    pub kind: CoverageChangeKind,
    /// Start of the affected time.
    pub from: DateTime<Utc>,
    /// End of the affected time.
    pub to: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_join_across_seams_under_three_seconds_and_across_overlaps() {
        let joined = join_spans_ms([
            (0, 10_000),
            (12_999, 20_000),
            (19_000, 25_000),
            (28_000, 30_000),
        ]);
        assert_eq!(joined, vec![(0, 25_000), (28_000, 30_000)]);
        assert!(join_spans_ms([]).is_empty());
    }

    fn t(s: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
            + Duration::milliseconds((s * 1000.0) as i64)
    }

    fn window(a: f64, b: f64) -> TimeRange {
        TimeRange::new(t(a), t(b), Duration::days(1)).unwrap()
    }

    #[test]
    fn t1_a_one_second_seam_is_one_range() {
        let ranges = coalesce([(t(0.0), t(60.0)), (t(61.0), t(120.0))]);
        assert_eq!(
            ranges,
            vec![Range {
                start: t(0.0),
                end: t(120.0)
            }]
        );
        assert!(gaps(&ranges, window(0.0, 120.0)).is_empty());
    }

    #[test]
    fn t2_a_three_second_hole_is_a_gap() {
        let ranges = coalesce([(t(0.0), t(60.0)), (t(63.0), t(120.0))]);
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            gaps(&ranges, window(0.0, 120.0)),
            vec![Gap {
                from: t(60.0),
                to: t(63.0),
                seconds: 3.0
            }]
        );
    }

    #[test]
    fn t3_two_and_a_half_seconds_truncate_to_two_and_join() {
        let ranges = coalesce([(t(0.0), t(60.0)), (t(62.5), t(120.0))]);
        assert_eq!(ranges.len(), 1);
    }

    #[test]
    fn t4_leading_and_trailing_gaps_are_clipped_to_the_window() {
        let ranges = coalesce([(t(0.0), t(60.0)), (t(61.0), t(120.0))]);
        let g = gaps(&ranges, window(-10.0, 130.0));
        assert_eq!(
            g,
            vec![
                Gap {
                    from: t(-10.0),
                    to: t(0.0),
                    seconds: 10.0
                },
                Gap {
                    from: t(120.0),
                    to: t(130.0),
                    seconds: 10.0
                }
            ]
        );
        assert_eq!(covered_seconds(&ranges, t(-10.0), t(130.0)), 120.0);
        assert_eq!(
            covered_seconds(&ranges, t(30.0), t(90.0)),
            60.0,
            "clipped to the window"
        );
    }

    #[test]
    fn t5_no_footage_is_one_gap_over_the_window() {
        assert_eq!(
            gaps(&[], window(0.0, 100.0)),
            vec![Gap {
                from: t(0.0),
                to: t(100.0),
                seconds: 100.0
            }]
        );
    }

    #[test]
    fn overlapping_segments_join_and_short_edges_are_not_gaps() {
        let ranges = coalesce([(t(0.0), t(60.0)), (t(50.0), t(70.0)), (t(55.0), t(65.0))]);
        assert_eq!(
            ranges,
            vec![Range {
                start: t(0.0),
                end: t(70.0)
            }]
        );
        assert!(
            gaps(&ranges, window(-1.5, 71.0)).is_empty(),
            "edges of 1.5 s and 1 s are within tolerance"
        );
    }

    #[test]
    fn a_window_must_be_forward_and_bounded() {
        assert!(
            matches!(TimeRange::new(t(10.0), t(10.0), Duration::days(1)), Err(AppError::BadUserInput { ref field, .. }) if field == "to")
        );
        assert!(TimeRange::new(t(0.0), t(0.0) + Duration::days(2), Duration::days(1)).is_err());
    }

    #[test]
    fn daylight_saving_days_have_23_and_25_hourly_buckets() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let day = |y, m, d| local_midnight(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(), tz);
        let spring = TimeRange::new(day(2026, 3, 29), day(2026, 3, 30), Duration::days(2)).unwrap();
        assert_eq!(buckets(spring, Bucket::Hour, tz).len(), 23);
        assert_eq!(buckets(spring, Bucket::Day, tz).len(), 1);
        assert_eq!(spring.seconds(), 23.0 * 3600.0);
        let autumn =
            TimeRange::new(day(2026, 10, 25), day(2026, 10, 26), Duration::days(2)).unwrap();
        let hours = buckets(autumn, Bucket::Hour, tz);
        assert_eq!(hours.len(), 25);
        assert!(hours.windows(2).all(|w| w[0].1 == w[1].0), "contiguous");
        assert_eq!(autumn.seconds(), 25.0 * 3600.0);
        let week = TimeRange::new(day(2026, 3, 26), day(2026, 4, 2), Duration::days(10)).unwrap();
        let days = buckets(week, Bucket::Day, tz);
        assert_eq!(days.len(), 7);
        assert_eq!(
            (days[3].1 - days[3].0).num_hours(),
            23,
            "29 March is 23 hours long"
        );
    }

    #[test]
    fn hours_follow_half_hour_zones_and_minutes_floor() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let w = TimeRange::new(t(0.0), t(3.0 * 3600.0), Duration::days(1)).unwrap();
        for (start, _) in buckets(w, Bucket::Hour, tz) {
            assert_eq!(start.with_timezone(&tz).minute(), 0);
        }
        let m = buckets(window(10.0, 130.0), Bucket::Minute, Tz::UTC);
        assert!(m.first().unwrap().0 <= t(10.0) && m.last().unwrap().1 >= t(130.0));
    }

    #[test]
    fn time_zones_are_checked() {
        assert!(parse_time_zone("timeZone", "Mars/Olympus").is_err());
        assert_eq!(
            parse_time_zone("timeZone", " America/New_York ").unwrap(),
            chrono_tz::America::New_York
        );
    }
}

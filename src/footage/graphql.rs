//! `footageCoverage`, `footageTimeline`, `segments`, and the `coverageChanged` subscription.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Duration, Utc};
use entity::{recording_gap, segment};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::footage::model::{self, Bucket, CoverageChange, GapReason, Range, TimeRange};
use crate::footage::store;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::paging::{Counted, KeyPart, Keyset, Order, PageArgs, paged};
use crate::graphql::scalars::Long;

/// Missing footage inside the requested window.
#[derive(SimpleObject, Clone)]
pub struct FootageGap {
    /// Start of the hole (clipped to the window).
    pub from: DateTime<Utc>,
    /// End of the hole (clipped to the window).
    pub to: DateTime<Utc>,
    /// Length of the hole in seconds, after clipping.
    pub seconds: f64,
    /// Why, when the recorder recorded it; null when unknown (e.g. not recorded yet).
    pub reason: Option<GapReason>,
}

/// One recording file (an MP4 of one camera) as the indexer found it.
#[derive(SimpleObject)]
pub struct Segment {
    /// Stable id (`seg_…`).
    #[graphql(owned)]
    pub id: ID,
    /// Id of the camera that recorded it.
    pub camera_id: ID,
    /// First instant of footage.
    pub start: DateTime<Utc>,
    /// Last instant of footage.
    pub end: DateTime<Utc>,
    /// Length of its footage in seconds (`end` minus `start`).
    pub duration_seconds: f64,
    /// File size in bytes.
    pub size_bytes: Long,
    /// Video codec as ffprobe names it, e.g. `h264`; null if the probe did not report it.
    pub codec: Option<String>,
    /// Frame width in pixels; null if the probe did not report it.
    pub width: Option<i32>,
    /// Frame height in pixels; null if the probe did not report it.
    pub height: Option<i32>,
    /// Average frame rate in frames a second, from ffprobe; null if unknown.
    pub fps: Option<f64>,
    /// Whether an active evidence hold covers it; retention never deletes it while true.
    pub evidence_locked: bool,
    /// Where to fetch the MP4 (send the access token as a bearer header).
    pub playback_url: String,
}

impl From<segment::Model> for Segment {
    fn from(m: segment::Model) -> Self {
        Segment {
            playback_url: format!("/media/recordings/{}", m.id),
            duration_seconds: (m.end_ms - m.start_ms) as f64 / 1000.0,
            start: m.start(),
            end: m.end(),
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            size_bytes: Long(m.size_bytes),
            codec: m.codec,
            width: m.width,
            height: m.height,
            fps: m.fps,
            evidence_locked: m.evidence_locked,
        }
    }
}

/// Footage of one camera over a window.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct FootageCoverage {
    /// Id of the camera the coverage describes.
    pub camera_id: ID,
    /// Start of the window, as requested.
    pub from: DateTime<Utc>,
    /// End of the window, as requested.
    pub to: DateTime<Utc>,
    /// Length of the window in seconds.
    pub requested_seconds: f64,
    /// Seconds of footage inside the window (seams of up to 2 s count as footage).
    pub covered_seconds: f64,
    /// covered / requested, 0 to 1.
    pub coverage_ratio: f64,
    /// Holes longer than 2 s, clipped to the window.
    pub gaps: Vec<FootageGap>,
    #[graphql(skip)]
    window: TimeRange,
}

#[ComplexObject]
impl FootageCoverage {
    /// The segments overlapping the window, in time order.
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<Segment>, AppError> {
        let args = PageArgs::new(first, after, last, before);
        segments_connection(ctx, &self.camera_id, self.window, args).await
    }
}

/// One bucket of a timeline.
#[derive(SimpleObject)]
pub struct TimelineBucket {
    /// Start of the bucket (inclusive); the first bucket may start before the window.
    pub start: DateTime<Utc>,
    /// End of the bucket (exclusive); the last bucket may end after the window.
    pub end: DateTime<Utc>,
    /// Local start in the requested time zone, e.g. `2026-03-29T03:00+02:00`.
    pub label: String,
    /// Seconds of footage in the bucket (within the window).
    pub covered_seconds: f64,
    /// covered / bucket length within the window.
    pub coverage_ratio: f64,
    /// Gaps that overlap the bucket.
    pub gap_count: i32,
}

/// One camera's footage over the requested window, bucket by bucket.
#[derive(SimpleObject)]
pub struct CameraTimeline {
    /// Id of the camera these buckets describe.
    pub camera_id: ID,
    /// Buckets in time order.
    pub buckets: Vec<TimelineBucket>,
    /// The buckets' starts in time order, parallel to `coverageRatios`: with it, a compact form
    /// of `buckets` for drawing many cameras over many days (no object per bucket); a bucket
    /// ends where the next starts (the last, one bucket after its start).
    pub bucket_starts: Vec<DateTime<Utc>>,
    /// Each bucket's recorded share, 0 to 1, parallel to `bucketStarts`.
    pub coverage_ratios: Vec<f64>,
}

fn window(from: DateTime<Utc>, to: DateTime<Utc>, max: Duration) -> Result<TimeRange, AppError> {
    TimeRange::new(from, to, max)
}

/// Coverage of one camera (scope and capability checked by the caller).
pub async fn coverage(
    ctx: &Context<'_>,
    camera_id: &str,
    window: TimeRange,
) -> Result<(Vec<Range>, Vec<FootageGap>), AppError> {
    let db = &ctx.state()?.db;
    let ranges = store::ranges_overlapping(db, camera_id, window).await?;
    let recorded: Vec<recording_gap::Model> = store::recorded_gaps(db, camera_id, window).await?;
    let gaps = model::gaps(&ranges, window)
        .into_iter()
        .map(|gap| FootageGap {
            reason: model::explain(
                gap.from.timestamp_millis(),
                gap.to.timestamp_millis(),
                &recorded,
            ),
            from: gap.from,
            to: gap.to,
            seconds: gap.seconds,
        })
        .collect();
    Ok((ranges, gaps))
}

async fn segments_connection(
    ctx: &Context<'_>,
    camera_id: &str,
    window: TimeRange,
    args: PageArgs,
) -> Result<Counted<Segment>, AppError> {
    let keyset = Keyset {
        parts: vec![
            KeyPart::Int(segment::Column::StartMs),
            KeyPart::Text(segment::Column::Id),
        ],
        order: Order::OldestFirst,
        key_of: |row: &segment::Model| format!("{}|{}", row.start_ms, row.id),
    };
    let select = store::overlapping_segments(camera_id, window);
    paged(&ctx.state()?.db, select, &keyset, &args, |row| {
        Ok::<_, AppError>(Segment::from(row))
    })
    .await
}

/// Footage queries.
#[derive(Default)]
pub struct FootageQuery;

#[Object]
impl FootageQuery {
    /// Where footage exists and where it is missing (and why) for one camera over a window of up to 93 days.
    async fn footage_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(desc = "Window start (any offset).")] from: DateTime<Utc>,
        #[graphql(desc = "Window end, after `from`.")] to: DateTime<Utc>,
    ) -> Result<FootageCoverage, AppError> {
        find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        let window = window(from, to, Duration::days(93))?;
        let (ranges, gaps) = coverage(ctx, &camera_id, window).await?;
        let covered = model::covered_seconds(&ranges, window.from, window.to);
        Ok(FootageCoverage {
            camera_id: camera_id.clone(),
            from,
            to,
            requested_seconds: window.seconds(),
            covered_seconds: covered,
            coverage_ratio: covered / window.seconds(),
            gaps,
            window,
        })
    }

    /// Footage per MINUTE, HOUR or DAY bucket of the caller's time zone, for several cameras.
    #[graphql(
        complexity = "crate::graphql::cost::timeline(camera_ids.len(), from, to, bucket, child_complexity)"
    )]
    async fn footage_timeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Cameras, 1 to 64.")] camera_ids: Vec<ID>,
        #[graphql(desc = "Window start (any offset); the first bucket starts at or before it.")]
        from: DateTime<Utc>,
        #[graphql(
            desc = "Window end, after `from`: at most 1 day for MINUTE, 93 days for HOUR, 3660 for DAY."
        )]
        to: DateTime<Utc>,
        #[graphql(desc = "Bucket size; it also caps the window length (see `to`).")] bucket: Bucket,
        #[graphql(
            desc = "IANA time zone for bucket boundaries (default UTC).",
            default_with = "Some(\"UTC\".to_owned())"
        )]
        time_zone: Option<String>,
    ) -> Result<Vec<CameraTimeline>, AppError> {
        let time_zone = time_zone.unwrap_or_else(|| "UTC".to_owned());
        ctx.require(Capability::VideoPlayback)?;
        if camera_ids.is_empty() || camera_ids.len() > 64 {
            return Err(AppError::bad_input(
                "cameraIds",
                "must list 1 to 64 cameras",
            ));
        }
        crate::graphql::input::distinct("cameraIds", &camera_ids)?;
        let tz = model::parse_time_zone("timeZone", &time_zone)?;
        let window = window(from, to, bucket.max_window())?;
        let buckets = model::buckets(window, bucket, tz);
        let objects = ctx.look_ahead().field("buckets").exists();
        let mut out = Vec::with_capacity(camera_ids.len());
        for camera_id in camera_ids {
            find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
            let (ranges, gaps) = coverage(ctx, &camera_id, window).await?;
            let mut row = CameraTimeline {
                camera_id,
                buckets: Vec::new(),
                bucket_starts: Vec::with_capacity(buckets.len()),
                coverage_ratios: Vec::with_capacity(buckets.len()),
            };
            for &(start, end) in &buckets {
                let (a, b) = (start.max(window.from), end.min(window.to));
                let covered = model::covered_seconds(&ranges, a, b);
                let length = (b - a).num_milliseconds() as f64 / 1000.0;
                let ratio = if length > 0.0 { covered / length } else { 0.0 };
                row.bucket_starts.push(start);
                row.coverage_ratios.push(ratio);
                // The objects (a local label, a gap count) only when the document asks for them.
                if objects {
                    row.buckets.push(TimelineBucket {
                        start,
                        end,
                        label: model::local_label(start, tz),
                        covered_seconds: covered,
                        coverage_ratio: ratio,
                        gap_count: gaps.iter().filter(|g| g.from < end && g.to > start).count()
                            as i32,
                    });
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The segments of one camera overlapping a window, in time order, each with its playback URL.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(
            desc = "Window start (any offset), at most 93 days before `to`; segments that began earlier but overlap it are included."
        )]
        from: DateTime<Utc>,
        #[graphql(desc = "Window end, after `from`.")] to: DateTime<Utc>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<Segment>, AppError> {
        find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        let window = window(from, to, Duration::days(93))?;
        let args = PageArgs::new(first, after, last, before);
        segments_connection(ctx, &camera_id, window, args).await
    }
}

/// Footage subscriptions.
#[derive(Default)]
pub struct FootageSubscription;

#[Subscription]
impl FootageSubscription {
    /// Pushed when a segment of one of these cameras is indexed or deleted, or a gap is recorded, so a timeline stays live without polling.
    async fn coverage_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Cameras to watch, 1 to 64.")] camera_ids: Vec<ID>,
    ) -> Result<impl Stream<Item = CoverageChange> + use<>, AppError> {
        ctx.require(Capability::VideoPlayback)?;
        if camera_ids.is_empty() || camera_ids.len() > 64 {
            return Err(AppError::bad_input(
                "cameraIds",
                "must list 1 to 64 cameras",
            ));
        }
        crate::graphql::input::distinct("cameraIds", &camera_ids)?;
        for id in &camera_ids {
            find_camera(ctx, Capability::VideoPlayback, id).await?;
        }
        let receiver = ctx.state()?.footage_events.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |event| {
            let change = match event {
                Ok(change) => Some(change).filter(|c| camera_ids.contains(&c.camera_id)),
                Err(lagged) => {
                    // A change is a hint to refetch; a subscriber this far behind refetches
                    // on the next one.
                    tracing::warn!(error = %lagged, "a coverageChanged subscriber fell behind; changes skipped");
                    None
                }
            };
            async move { change }
        }))
    }
}

//! Incidents: holds grouped by incident id, with their footage totals.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{evidence_hold, segment};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::evidence::graphql::scope_condition;
use crate::evidence::store::footage_in;
use crate::graphql::ContextExt;
use crate::graphql::scalars::Long;

/// Holds grouped by incident, with their footage totals.
#[derive(SimpleObject)]
pub struct Incident {
    /// The incident id given to `lockEvidence` (free text, up to 128 characters).
    pub incident_id: String,
    /// Active holds in it.
    pub hold_count: i32,
    /// Ids of the cameras its active holds are on.
    pub camera_ids: Vec<ID>,
    /// Earliest start among its active holds.
    pub from: DateTime<Utc>,
    /// Latest end among its active holds.
    pub to: DateTime<Utc>,
    /// Segments overlapping its active holds, summed per hold (a segment under two holds counts twice).
    pub segment_count: Long,
    /// Bytes of those segments, summed per hold.
    pub total_bytes: Long,
    /// Seconds of footage held.
    pub covered_seconds: f64,
}

/// Incident queries.
#[derive(Default)]
pub struct IncidentsQuery;

#[Object]
impl IncidentsQuery {
    /// Incidents with active holds on cameras in scope, with their footage totals, latest first.
    async fn incidents(&self, ctx: &Context<'_>) -> Result<Vec<Incident>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?;
        let state = ctx.state()?;
        let holds = evidence_hold::Entity::find()
            .filter(scope_condition(
                &principal.scope,
                evidence_hold::Column::CameraId,
            ))
            .filter(evidence_hold::Column::ReleasedAt.is_null())
            .filter(evidence_hold::Column::IncidentId.is_not_null())
            .order_by_asc(evidence_hold::Column::Id)
            .limit(5000)
            .all(&state.db)
            .await?;
        let mut incidents: Vec<Incident> = Vec::new();
        for hold in holds {
            let Some(incident_id) = hold.incident_id.clone() else {
                continue;
            };
            let footage =
                footage_in(&state.db, &hold.camera_id, hold.start_ms, hold.end_ms).await?;
            let (count, bytes, seconds) = (footage.segments, footage.bytes, footage.seconds);
            let (from, to) = (
                segment::from_ms(hold.start_ms),
                segment::from_ms(hold.end_ms),
            );
            match incidents.iter_mut().find(|i| i.incident_id == incident_id) {
                Some(i) => {
                    i.hold_count += 1;
                    if !i.camera_ids.iter().any(|c| c.as_str() == hold.camera_id) {
                        i.camera_ids.push(ID(hold.camera_id.clone()));
                    }
                    i.from = i.from.min(from);
                    i.to = i.to.max(to);
                    i.segment_count.0 += count;
                    i.total_bytes.0 += bytes;
                    i.covered_seconds += seconds;
                }
                None => incidents.push(Incident {
                    incident_id,
                    hold_count: 1,
                    camera_ids: vec![ID(hold.camera_id.clone())],
                    from,
                    to,
                    segment_count: Long(count),
                    total_bytes: Long(bytes),
                    covered_seconds: seconds,
                }),
            }
        }
        incidents.sort_by_key(|i| std::cmp::Reverse(i.to));
        Ok(incidents)
    }
}

//! Camera ownership between server instances sharing one database: exactly one instance runs a
//! camera's recorder and samplers. Each instance claims the enabled cameras nobody holds (or
//! whose owner's claim lapsed) and renews its own on every reconcile, which runs at least every
//! [`RENEW_EVERY`]; a claim lapses [`CLAIM_TTL`] after its last renewal, so the cameras of an
//! instance that died move to another within about half a minute. A clean shutdown gives its
//! cameras up, so the others take them on their next renewal. On SQLite (one process) the only
//! instance owns everything.

use std::collections::HashSet;
use std::time::Duration;

use entity::camera_owner;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Set};

use crate::error::AppError;
use crate::state::AppState;

/// How long a claim lasts without renewal.
pub const CLAIM_TTL: Duration = Duration::from_secs(30);
/// How often ownership is renewed (and lapsed cameras are picked up).
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// This instance's identity among the servers sharing the database, and when it last renewed
/// its claims.
#[derive(Debug)]
pub struct Ownership {
    instance_id: String,
    /// When this instance last renewed its claims (clock ms, 0 before the first).
    renewed_at_ms: std::sync::atomic::AtomicI64,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership {
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
            renewed_at_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }
}

impl Ownership {
    /// The ownership of the instance whose data directory is `dir`: its id is kept in
    /// `<dir>/instance-id` (created on the first start), so after a restart the instance
    /// recognises the read locks and exports it left behind and recovers them at once.
    pub fn for_data_dir(dir: &std::path::Path) -> Self {
        let file = dir.join("instance-id");
        let stored = std::fs::read_to_string(&file)
            .ok()
            .map(|id| id.trim().to_owned())
            .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        let instance_id = stored.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            if let Err(err) = crate::db::private_dir(dir).and_then(|()| std::fs::write(&file, &id)) {
                tracing::warn!(error = %err, file = %file.display(), "cannot keep the instance id; a restart will look like a new instance");
            }
            id
        });
        Ownership {
            instance_id,
            renewed_at_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// This instance's id (kept in its data directory).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Whether this instance's claims may have lapsed at `now`: its last renewal is older than
    /// the claim length less a margin, so another instance may already run its cameras.
    fn may_have_lapsed(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let renewed = self
            .renewed_at_ms
            .load(std::sync::atomic::Ordering::Acquire);
        let margin = 5_000;
        renewed > 0 && now.timestamp_millis() - renewed > CLAIM_TTL.as_millis() as i64 - margin
    }
}

/// The time claims are measured in. On PostgreSQL it is the database's, so instances whose
/// clocks disagree still agree on when a claim lapsed; on SQLite (one instance) the server's.
pub(crate) async fn claim_time(
    state: &AppState,
) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    if state.db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(state.clock.now());
    }
    let row = state
        .db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT CURRENT_TIMESTAMP AS now",
        ))
        .await?
        .ok_or_else(|| AppError::internal("the database returned no time"))?;
    Ok(row.try_get::<chrono::DateTime<chrono::Utc>>("", "now")?)
}

/// Claims or renews `cameras` for this instance; returns those it owns now.
pub async fn claim(state: &AppState, cameras: &[String]) -> Result<HashSet<String>, AppError> {
    let me = state.ownership.instance_id();
    let now = claim_time(state).await?;
    let until = now + chrono::Duration::from_std(CLAIM_TTL).unwrap_or_default();
    let mut owned = HashSet::new();
    for camera in cameras {
        let row = camera_owner::ActiveModel {
            camera_id: Set(camera.clone()),
            instance_id: Set(me.to_owned()),
            expires_at: Set(until),
        };
        // Renew our claim, or take over a lapsed one.
        let claimed = crate::db::claim::<camera_owner::Entity>(
            &state.db,
            Some((row, camera_owner::Column::CameraId)),
            Condition::all().add(camera_owner::Column::CameraId.eq(camera.clone())),
            Condition::any()
                .add(camera_owner::Column::InstanceId.eq(me))
                .add(camera_owner::Column::ExpiresAt.lt(now)),
            vec![
                (camera_owner::Column::InstanceId, Expr::value(me)),
                (camera_owner::Column::ExpiresAt, Expr::value(until)),
            ],
        )
        .await?;
        // `Gone`: deleted meanwhile (its foreign key is gone), not ours to run.
        if claimed == crate::db::Claim::Won {
            owned.insert(camera.clone());
        }
    }
    state.ownership.renewed_at_ms.store(
        state.clock.now().timestamp_millis(),
        std::sync::atomic::Ordering::Release,
    );
    Ok(owned)
}

/// Claims or renews the enabled cameras; returns those this instance owns (none once shutdown
/// has begun, so nothing is claimed after the cameras were given up).
pub async fn claim_enabled(state: &AppState) -> Result<HashSet<String>, AppError> {
    use entity::camera;
    use sea_orm::QuerySelect;
    if state.recorders.stopping() {
        return Ok(HashSet::new());
    }
    let enabled: Vec<String> = camera::Entity::find()
        .select_only()
        .column(camera::Column::Id)
        .filter(camera::Column::Enabled.eq(true))
        .into_tuple()
        .all(&state.db)
        .await?;
    claim(state, &enabled).await
}

/// Claims the cameras once, then brings the recorders and the samplers in line with the
/// registry (cameras and AI tasks) for the ones this instance owns, and closes the live relays
/// whose camera changed under them; every camera or task change calls this. Failures are
/// logged; a change that triggered this stands.
pub async fn reconcile_all(state: &AppState) {
    if let Err(err) = renew_lease(state).await {
        tracing::warn!(error = %err, "could not renew this instance's lease");
    }
    let owned = match claim_enabled(state).await {
        Ok(owned) => owned,
        Err(err) => {
            tracing::warn!(error = %err, "could not renew camera ownership");
            return;
        }
    };
    if let Err(err) = state.recorders.reconcile(state, &owned).await {
        tracing::error!(error = %err, "could not reconcile the recorders");
    }
    if let Err(err) = state.ai.samplers.reconcile(state, &owned).await {
        tracing::error!(error = %err, "could not reconcile the frame samplers");
    }
    // Live relays serve whoever watches, on any instance, whatever it owns.
    if let Err(err) = state.watch.live.reconcile(state).await {
        tracing::error!(error = %err, "could not reconcile the live relays");
    }
}

/// Renews this instance's lease (it is alive for [`CLAIM_TTL`] more), then takes back what
/// instances whose lease lapsed left behind.
pub async fn renew_lease(state: &AppState) -> Result<(), AppError> {
    let now = register_lease(state).await?;
    crate::evidence::exports::recover_lapsed(state, now).await
}

/// Writes this instance's lease ([`CLAIM_TTL`] from now, by the claim clock); returns that now.
pub async fn register_lease(state: &AppState) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    use entity::instance_lease;
    use sea_orm::sea_query::OnConflict;
    let now = claim_time(state).await?;
    let expires_at = now + chrono::Duration::from_std(CLAIM_TTL).unwrap_or_default();
    instance_lease::Entity::insert(instance_lease::ActiveModel {
        instance_id: sea_orm::Set(state.ownership.instance_id().to_owned()),
        expires_at: sea_orm::Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(instance_lease::Column::InstanceId)
            .update_column(instance_lease::Column::ExpiresAt)
            .to_owned(),
    )
    .exec_without_returning(&state.db)
    .await?;
    Ok(now)
}

/// Gives up every camera this instance owns (at shutdown), so another takes them at once.
pub async fn release_all(state: &AppState) {
    // Gone for good: others may take back whatever this instance still holds.
    let _ = entity::instance_lease::Entity::delete_by_id(state.ownership.instance_id().to_owned())
        .exec(&state.db)
        .await;
    let result = camera_owner::Entity::delete_many()
        .filter(camera_owner::Column::InstanceId.eq(state.ownership.instance_id()))
        .exec(&state.db)
        .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not give up camera ownership");
    }
}

/// Renews ownership and re-plans recorders and samplers every [`RENEW_EVERY`], so cameras whose
/// owner went away are picked up.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first reconcile ran at start-up
    loop {
        tick.tick().await;
        reconcile_all(&state).await;
        // Renewals keep failing (the database is unreachable): another instance may take the
        // cameras over, so stop running them here rather than record them twice. The next
        // successful renewal starts them again.
        if state.ownership.may_have_lapsed(state.clock.now()) {
            tracing::error!(
                "camera ownership could not be renewed; stopping this instance's recorders and samplers until it can"
            );
            state.recorders.pause().await;
            state.ai.samplers.pause().await;
        }
    }
}

//! Retention over GraphQL: `retentionPreview` and `runRetention` (admins).

use async_graphql::{Context, Object};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::retention::plan::{self, RetentionPreview, RetentionReport};
use crate::retention::sweep;

/// Retention queries.
#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// What the next retention sweep would delete now, and why (admins). With several servers
    /// on one database, this is the sweep of the server that answers: each sweeps the footage
    /// on its own disk.
    async fn retention_preview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Candidates to list, 1 to 1000.", default_with = "Some(100)")]
        first: Option<i32>,
    ) -> Result<RetentionPreview, AppError> {
        let first = first.unwrap_or(100);
        ctx.require(Capability::Admin)?;
        if !(1..=1000).contains(&first) {
            return Err(AppError::bad_input("first", "must be between 1 and 1000"));
        }
        plan::preview(ctx.state()?, first as usize).await
    }
}

/// Retention mutations.
#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Runs a retention sweep now (admins) and reports what it deleted and why. With several
    /// servers on one database, the server that answers sweeps the footage on its own disk.
    async fn run_retention(&self, ctx: &Context<'_>) -> Result<RetentionReport, AppError> {
        let principal = ctx.require(Capability::Admin)?;
        let state = ctx.state()?;
        let report = sweep::sweep(state).await?;
        let entry = Entry::new("run_retention", "retention", "sweep").detail(json!({
            "deletedSegments": report.deleted_segments, "deletedBytes": report.deleted_bytes,
            "forgottenSegments": report.forgotten_segments,
        }));
        audit::record(&state.db, &Actor::from(principal), entry, state.clock.now()).await;
        Ok(report)
    }
}

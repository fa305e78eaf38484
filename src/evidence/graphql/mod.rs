//! Clip exports, snapshots, evidence holds and incidents over GraphQL: one file per concern,
//! each resolver authorize → parse → call → map.

pub mod exports;
pub mod holds;
pub mod incidents;
pub mod snapshots;

use async_graphql::{MergedObject, MergedSubscription};
use sea_orm::{ColumnTrait, Condition};

use crate::auth::principal::{CameraScope, Principal};
use crate::error::AppError;
use crate::evidence::model;
use crate::state::AppState;

/// Evidence queries.
#[derive(MergedObject, Default)]
pub struct EvidenceQuery(
    exports::ExportsQuery,
    holds::HoldsQuery,
    incidents::IncidentsQuery,
);

/// Evidence mutations.
#[derive(MergedObject, Default)]
pub struct EvidenceMutation(
    exports::ExportsMutation,
    snapshots::SnapshotsMutation,
    holds::HoldsMutation,
);

/// Evidence subscriptions.
#[derive(MergedSubscription, Default)]
pub struct EvidenceSubscription(exports::ExportsSubscription);

/// Signs `path` for the caller: `path?expires=…&sub=…&sig=…`, valid for the configured TTL.
/// The subject names the credential (its kind, session or key, and holder), so the link is
/// refused once that credential is revoked or no longer allows the file.
pub fn signed_url(state: &AppState, principal: &Principal, path: &str) -> String {
    let expires = state.clock.now().timestamp() + state.config.media_url_ttl_secs as i64;
    let subject = model::LinkSubject::of(principal).to_string();
    let sig = model::sign(&state.media.url_key, path, expires, &subject);
    format!("{path}?expires={expires}&sub={subject}&sig={sig}")
}

/// Rows of the cameras in `scope` only.
pub fn scope_condition(scope: &CameraScope, column: impl ColumnTrait) -> Condition {
    match scope {
        CameraScope::All => Condition::all(),
        CameraScope::Cameras(ids) => Condition::all().add(column.is_in(ids.clone())),
    }
}

/// An optional free text: trimmed, empty as none, at most `max` characters without control
/// characters; the error names `field`.
pub fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(v) = &value
        && (v.chars().count() > max || v.chars().any(char::is_control))
    {
        return Err(AppError::bad_input(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(value)
}

//! The schema: one root per operation type, merged from one object per feature (adding a
//! feature adds one line to each root it serves), its limits, and the SDL clients build against.

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::ai::graphql::{AiMutation, AiQuery};
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::cameras::graphql::{CamerasMutation, CamerasQuery};
use crate::events::graphql::{EventsQuery, EventsSubscription};
use crate::evidence::graphql::{EvidenceMutation, EvidenceQuery, EvidenceSubscription};
use crate::footage::graphql::{FootageQuery, FootageSubscription};
use crate::perception::graphql::IngestMutation;
use crate::perception::live::PerceptionSubscription;
use crate::retention::graphql::{RetentionMutation, RetentionQuery};
use crate::state::AppState;
use crate::system::graphql::{SystemQuery, SystemSubscription};
use crate::zones::graphql::{ZonesMutation, ZonesQuery, ZonesSubscription};

/// Every query field, one feature object per line.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    SystemQuery,
    AuthQuery,
    AuditQuery,
    CamerasQuery,
    FootageQuery,
    EvidenceQuery,
    RetentionQuery,
    ZonesQuery,
    EventsQuery,
    AiQuery,
);

/// Every mutation field, one feature object per line.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    AuthMutation,
    CamerasMutation,
    EvidenceMutation,
    RetentionMutation,
    ZonesMutation,
    IngestMutation,
    AiMutation,
);

/// Every subscription field, one feature object per line.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    SystemSubscription,
    FootageSubscription,
    EvidenceSubscription,
    EventsSubscription,
    ZonesSubscription,
    PerceptionSubscription,
);

/// The schema type served over HTTP and websockets.
pub type HeldarSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Limits the schema enforces on every document.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// Deepest nesting.
    pub max_depth: usize,
    /// Highest complexity.
    pub max_complexity: usize,
    /// Whether introspection (and field suggestions) are on.
    pub introspection: bool,
}

/// Builds the schema with its limits; `state` is available to resolvers through
/// [`ContextExt`](crate::graphql::ContextExt).
pub fn build_schema(state: Option<AppState>, limits: SchemaLimits) -> HeldarSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(32)
    .limit_directives(16)
    .extension(crate::graphql::extension::RequestErrorCodes {
        introspection: limits.introspection,
    });
    if !limits.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL clients build against (`schema.graphql`, `heldar schema`).
pub fn sdl() -> String {
    let schema = build_schema(
        None,
        SchemaLimits {
            max_depth: 64,
            max_complexity: 1_000_000,
            introspection: true,
        },
    );
    schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

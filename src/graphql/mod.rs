//! The GraphQL schema: merged roots, limits, error codes, and the context helpers resolvers use.

pub mod context;
pub mod documents;
pub mod extension;
pub mod guards;
pub mod input;
pub mod multiplex;
pub mod paging;
pub mod ws;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::cameras::graphql::{CamerasMutation, CamerasQuery};
use crate::evidence::graphql::{EvidenceMutation, EvidenceQuery, EvidenceSubscription};
use crate::footage::graphql::{FootageQuery, FootageSubscription};
use crate::perception::events::{EventsQuery, EventsSubscription};
use crate::perception::ingest::IngestMutation;
use crate::perception::live::LiveSubscription;
use crate::perception::workers::{WorkersMutation, WorkersQuery};
use crate::perception::zones::{ZonesMutation, ZonesQuery};
use crate::state::AppState;
use crate::system::graphql::{SystemQuery, SystemSubscription};

pub use context::ContextExt;

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
    ZonesQuery,
    EventsQuery,
    WorkersQuery,
);

/// Every mutation field, one feature object per line.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    AuthMutation,
    CamerasMutation,
    EvidenceMutation,
    ZonesMutation,
    IngestMutation,
    WorkersMutation,
);

/// Every subscription field, one feature object per line.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    SystemSubscription,
    FootageSubscription,
    EvidenceSubscription,
    EventsSubscription,
    LiveSubscription,
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

/// Builds the schema with its limits; `state` is available to resolvers through [`ContextExt`].
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
    .extension(extension::RequestErrorCodes {
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

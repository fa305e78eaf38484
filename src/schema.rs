//! The schema: one root per operation type, merged from one object per feature (adding a
//! feature adds one line to each root it serves), its limits, and the SDL clients build against.

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::ai::graphql::{AiMutation, AiQuery};
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::cameras::graphql::{CamerasMutation, CamerasQuery, CamerasSubscription};
use crate::events::graphql::{EventsQuery, EventsSubscription};
use crate::evidence::graphql::{EvidenceMutation, EvidenceQuery, EvidenceSubscription};
use crate::footage::graphql::{FootageQuery, FootageSubscription};
use crate::node::NodeQuery;
use crate::perception::graphql::IngestMutation;
use crate::perception::live::PerceptionSubscription;
use crate::retention::graphql::{RetentionMutation, RetentionQuery};
use crate::review::graphql::{ReviewMutation, ReviewQuery, ReviewSubscription};
use crate::state::AppState;
use crate::system::graphql::{SystemQuery, SystemSubscription};
use crate::webhooks::graphql::{WebhooksMutation, WebhooksQuery};
use crate::zones::graphql::{ZonesMutation, ZonesQuery, ZonesSubscription};

/// Every query field, one feature object per line.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    SystemQuery,
    NodeQuery,
    AuthQuery,
    AuditQuery,
    CamerasQuery,
    FootageQuery,
    EvidenceQuery,
    RetentionQuery,
    ZonesQuery,
    EventsQuery,
    crate::perception::graphql::DetectionsQuery,
    AiQuery,
    WebhooksQuery,
    ReviewQuery,
    crate::playback::graphql::WatchQuery,
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
    WebhooksMutation,
    ReviewMutation,
);

/// Every subscription field, one feature object per line.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    SystemSubscription,
    CamerasSubscription,
    FootageSubscription,
    EvidenceSubscription,
    EventsSubscription,
    ZonesSubscription,
    PerceptionSubscription,
    ReviewSubscription,
);

/// The schema type served over HTTP and websockets.
pub type HeldarSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What `DateTime` means on the wire.
const DATE_TIME: &str = "An instant, as an RFC 3339 date-time string (`2026-11-29T21:05:00Z`). \
Results are always UTC with a `Z`; inputs may carry any offset (`2026-11-29T22:05:00+01:00`) and \
are converted to UTC. Fractions of a second are kept to the millisecond where stored.";

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
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
    .limit_directives(16)
    .extension(crate::graphql::extension::Admission {
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

/// The schemas a server runs: the main one with its limits, one for documents that only
/// introspect (they are deeper than any data query needs, and cheap), and the non-null root
/// fields for null propagation.
#[derive(Clone)]
pub struct Schemas {
    /// Runs every document that asks for data.
    pub main: HeldarSchema,
    /// Runs introspection-only documents without the depth limit (none when introspection is off).
    pub introspection: Option<HeldarSchema>,
    /// Non-null root fields (a failed one makes `data` null).
    pub non_null_roots: std::sync::Arc<crate::graphql::shape::NonNullRoots>,
}

impl Schemas {
    /// The schema to run a document with.
    pub fn for_document(&self, introspection_only: bool) -> &HeldarSchema {
        match (&self.introspection, introspection_only) {
            (Some(schema), true) => schema,
            _ => &self.main,
        }
    }
}

/// Builds the schemas a server runs.
pub fn build_schemas(state: AppState, limits: SchemaLimits) -> Schemas {
    let main = build_schema(Some(state.clone()), limits);
    let introspection = limits.introspection.then(|| {
        let deep = SchemaLimits {
            max_depth: 64,
            max_complexity: 1_000_000,
            introspection: true,
        };
        build_schema(Some(state), deep)
    });
    Schemas {
        non_null_roots: std::sync::Arc::new(crate::graphql::shape::NonNullRoots::from_sdl(
            &main.sdl(),
        )),
        main,
        introspection,
    }
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
            .include_specified_by()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

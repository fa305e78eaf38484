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

// The parts of the query root ([`QueryRoot`] sends each field to its part). The line below is
// the `Query` type's description in the SDL.
/// Every query field, one feature object per line.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryParts(
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

/// The query root: [`QueryParts`], with each field sent straight to the part that defines it.
/// The derived merged object asks its parts in turn (the last listed first), each comparing
/// the field's name with each of its own, so a field of the first part went through all
/// fifteen; a table built once from the parts' type information finds it in one lookup.
#[derive(Default)]
pub struct QueryRoot(QueryParts);

/// Builds [`QueryRoot`]'s table (field name → part, a later part winning a name as in the
/// derived chain) and its field resolution, from the parts' positions in [`QueryParts`].
macro_rules! dispatch_query_fields {
    ($($part:tt: $ty:ty),* $(,)?) => {
        /// Query field name → the position of its part in [`QueryParts`].
        static QUERY_FIELDS: std::sync::LazyLock<std::collections::HashMap<String, usize>> =
            std::sync::LazyLock::new(|| {
                let mut table = std::collections::HashMap::new();
                $(
                    let mut registry = async_graphql::registry::Registry::default();
                    <$ty as async_graphql::OutputType>::create_type_info(&mut registry);
                    let name = <$ty as async_graphql::OutputType>::type_name();
                    if let Some(fields) = registry.types.get(name.as_ref()).and_then(|t| t.fields()) {
                        for field in fields.keys() {
                            table.insert(field.clone(), $part);
                        }
                    }
                )*
                table
            });

        impl async_graphql::ContainerType for QueryRoot {
            async fn resolve_field(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
                match QUERY_FIELDS.get(ctx.item.node.name.node.as_str()) {
                    $(Some(&$part) => self.0.$part.resolve_field(ctx).await,)*
                    _ => self.0.resolve_field(ctx).await,
                }
            }

            async fn find_entity(
                &self,
                ctx: &async_graphql::Context<'_>,
                params: &async_graphql::Value,
            ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
                self.0.find_entity(ctx, params).await
            }
        }
    };
}

dispatch_query_fields!(
    0: SystemQuery,
    1: NodeQuery,
    2: AuthQuery,
    3: AuditQuery,
    4: CamerasQuery,
    5: FootageQuery,
    6: EvidenceQuery,
    7: RetentionQuery,
    8: ZonesQuery,
    9: EventsQuery,
    10: crate::perception::graphql::DetectionsQuery,
    11: AiQuery,
    12: WebhooksQuery,
    13: ReviewQuery,
    14: crate::playback::graphql::WatchQuery,
);

impl async_graphql::OutputType for QueryRoot {
    fn type_name() -> std::borrow::Cow<'static, str> {
        QueryParts::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        QueryParts::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        async_graphql::resolver_utils::resolve_container(ctx, self).await
    }
}

impl async_graphql::ObjectType for QueryRoot {}

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
    build(state, limits, Admitting::Every)
}

/// Which documents a schema is built to run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Admitting {
    /// Any document: the admission extension parses, checks, validates and rate-limits each.
    Every,
    /// Only documents the main schema admitted before (see [`Schemas::remembered`]).
    Remembered,
}

fn build(state: Option<AppState>, limits: SchemaLimits, admitting: Admitting) -> HeldarSchema {
    // The dispatch table is built here rather than by the first query.
    std::sync::LazyLock::force(&QUERY_FIELDS);
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(32)
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
    .limit_directives(16);
    builder = match admitting {
        Admitting::Every => builder.extension(crate::graphql::extension::Admission {
            introspection: limits.introspection,
        }),
        Admitting::Remembered => builder.validation_mode(async_graphql::ValidationMode::Fast),
    };
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
    /// Runs a document sent without variables that `main` has admitted before (parsed, checked
    /// and validated: the outcome depends on nothing but the text, and is remembered with it):
    /// the same types, resolvers and limits, but no extension (async-graphql boxes a future per
    /// hook per request and per field for each one) and the one-pass `Fast` validation
    /// (fragment cycles, uploads, complexity, depth and cache control) instead of the twenty
    /// rules the document already passed. The caller takes the rate limit's tokens itself.
    pub remembered: HeldarSchema,
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
    let remembered = build(Some(state.clone()), limits, Admitting::Remembered);
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
        remembered,
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_query_field_is_sent_to_a_part() {
        let sdl = super::sdl();
        let start = sdl.find("type Query {").expect("a Query type");
        let body = &sdl[start
            ..sdl[start..]
                .find("\n}")
                .map_or(sdl.len(), |end| start + end)];
        // A field's line: one tab, its name, then its arguments or its type; descriptions
        // (between `"""` lines) are skipped.
        let mut in_description = false;
        let mut fields = Vec::new();
        for line in body.lines() {
            let Some(line) = line.strip_prefix('\t') else {
                continue;
            };
            if line.trim() == "\"\"\"" {
                in_description = !in_description;
                continue;
            }
            if in_description || line.starts_with(['\t', '"']) {
                continue;
            }
            let name = line.split(['(', ':']).next().unwrap_or_default();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) {
                fields.push(name);
            }
        }
        assert!(fields.len() > 30, "{fields:?}");
        for field in &fields {
            assert!(
                super::QUERY_FIELDS.contains_key(*field),
                "{field} has no part"
            );
        }
        assert_eq!(super::QUERY_FIELDS.len(), fields.len(), "{fields:?}");
    }

    #[test]
    fn the_schema_for_remembered_documents_has_the_main_schemas_types() {
        for introspection in [true, false] {
            let limits = super::SchemaLimits {
                max_depth: 12,
                max_complexity: 500,
                introspection,
            };
            let main = super::build_schema(None, limits);
            let remembered = super::build(None, limits, super::Admitting::Remembered);
            assert_eq!(main.sdl(), remembered.sdl());
        }
    }
}

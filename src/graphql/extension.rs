//! What every operation passes before it runs, as one async-graphql extension (each extension
//! costs a boxed future per hook per request, and per field for `resolve`): parse and
//! validation errors get their `extensions.code`, introspection is refused when off, a
//! document that validated before skips validating again, and the rate limit takes its tokens.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

use crate::error::{codes, set_code};

/// Tags parse and validation failures with their codes, so clients can branch on them;
/// refuses introspection with an error (async-graphql alone answers `null`) when it is off;
/// and applies the per-credential rate limit once a document validated: it takes
/// `1 + complexity / 1000` tokens from its credential's bucket, or from its client address's
/// when unauthenticated, and an empty bucket answers `RATE_LIMITED` with `retryAfter`.
/// Subscriptions (and their replays) pay the same way as queries.
#[derive(Clone, Copy)]
pub struct Admission {
    /// Whether introspection is allowed.
    pub introspection: bool,
}

impl ExtensionFactory for Admission {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// Whether a selection set, with its fragments, asks for `__schema` or `__type`.
fn selects_introspection(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => {
            selects_introspection(doc, &fragment.node.selection_set.node, depth + 1)
        }
        Selection::FragmentSpread(spread) => doc
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|fragment| {
                selects_introspection(doc, &fragment.node.selection_set.node, depth + 1)
            }),
    })
}

/// Introspection fields that answer a list of objects. A path through more than
/// [`MAX_INTROSPECTION_LISTS`] of them multiplies its answer by each list's length (`interfaces
/// { possibleTypes { interfaces { … } } }` grows tenfold a level), so a few hundred bytes of
/// query could ask for billions of objects.
const INTROSPECTION_LISTS: [&str; 8] = [
    "types",
    "directives",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
];

/// Lists an introspection path may pass through: `__schema { types { fields { args } } }` is
/// the deepest that `getIntrospectionQuery` (GraphiQL, codegen, Apollo) asks for.
pub const MAX_INTROSPECTION_LISTS: u32 = 3;

/// Selections the introspection check looks at before it gives up and refuses the document.
const INTROSPECTION_WALK_BUDGET: u32 = 20_000;

/// Walks a selection set and returns the most introspection lists on one path below
/// `__schema`/`__type`; `None` when the document is too large or too deeply nested to walk.
fn introspection_lists(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    inside: bool,
    lists: u32,
    depth: usize,
    budget: &mut u32,
) -> Option<u32> {
    if depth > 64 {
        return None;
    }
    let mut most = lists;
    for item in &set.items {
        *budget = budget.checked_sub(1)?;
        let (child, inside, lists) = match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                let enters = matches!(name, "__schema" | "__type");
                // Introspection is only valid at the root: data fields are not walked.
                if !inside && !enters {
                    continue;
                }
                let counts = inside && INTROSPECTION_LISTS.contains(&name);
                (
                    &field.node.selection_set.node,
                    inside || enters,
                    lists + u32::from(counts),
                )
            }
            Selection::InlineFragment(fragment) => {
                (&fragment.node.selection_set.node, inside, lists)
            }
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => (&fragment.node.selection_set.node, inside, lists),
                    None => continue,
                }
            }
        };
        most = most.max(introspection_lists(
            doc,
            child,
            inside,
            lists,
            depth + 1,
            budget,
        )?);
    }
    Some(most)
}

/// Refuses a document whose introspection nests lists deeper than any schema client needs.
fn check_introspection_fan_out(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let mut budget = INTROSPECTION_WALK_BUDGET;
    for (_, op) in doc.operations.iter() {
        match introspection_lists(doc, &op.node.selection_set.node, false, 0, 0, &mut budget) {
            Some(lists) if lists <= MAX_INTROSPECTION_LISTS => {}
            _ => {
                let mut err = ServerError::new(
                    format!(
                        "introspection may nest at most {MAX_INTROSPECTION_LISTS} lists on one path (as `__schema {{ types {{ fields {{ args }} }} }}`); this document nests more"
                    ),
                    None,
                );
                set_code(&mut err, codes::QUERY_TOO_DEEP);
                return Err(err);
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Extension for Admission {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|mut err| {
            set_code(&mut err, codes::PARSE_FAILED);
            err
        })?;
        if !self.introspection
            && doc
                .operations
                .iter()
                .any(|(_, op)| selects_introspection(&doc, &op.node.selection_set.node, 0))
        {
            let mut err = ServerError::new("introspection is disabled on this server", None);
            set_code(&mut err, codes::VALIDATION_FAILED);
            return Err(err);
        }
        check_introspection_fan_out(&doc)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let memo = ctx.data_opt::<crate::graphql::documents::ValidationMemo>();
        if let Some(result) = memo.and_then(|memo| memo.recall()) {
            rate_limit(ctx, result.complexity)?;
            return Ok(result);
        }
        let result = next.run(ctx).await.map_err(|mut errors| {
            // Errors that already carry a code keep it.
            for err in errors.iter_mut().filter(|e| {
                e.extensions
                    .as_ref()
                    .is_none_or(|ext| ext.get("code").is_none())
            }) {
                let code = crate::error::validation_code(&err.message);
                set_code(err, code);
            }
            errors
        })?;
        if let Some(memo) = memo {
            memo.remember(result);
        }
        rate_limit(ctx, result.complexity)?;
        Ok(result)
    }
}

/// Takes a validated operation's tokens from its bucket, or refuses it with `RATE_LIMITED`.
fn rate_limit(ctx: &ExtensionContext<'_>, complexity: usize) -> Result<(), Vec<ServerError>> {
    let Some(state) = ctx.data_opt::<crate::state::AppState>() else {
        return Ok(());
    };
    take_tokens(
        state,
        ctx.data_opt::<crate::auth::principal::RequestAuth>(),
        ctx.data_opt::<crate::auth::throttle::ClientAddress>(),
        complexity,
    )
    .map_err(|refused| vec![refused])
}

/// Takes `1 + complexity / 1000` tokens for an operation from its holder's bucket (the user or
/// key, not the session: signing in again is no way round it), or from its client address's
/// when unauthenticated; an empty bucket refuses it with `RATE_LIMITED` and `retryAfter`.
pub fn take_tokens(
    state: &crate::state::AppState,
    auth: Option<&crate::auth::principal::RequestAuth>,
    address: Option<&crate::auth::throttle::ClientAddress>,
    complexity: usize,
) -> Result<(), ServerError> {
    if state.config.rate_limit_per_sec == 0 {
        return Ok(());
    }
    let key = match (auth, address) {
        (Some(crate::auth::principal::RequestAuth::Authenticated(p)), _) => {
            format!("credential:{}", p.id)
        }
        (_, Some(address)) => format!("address:{}", address.key()),
        (_, None) => "anonymous".to_owned(),
    };
    let tokens = 1.0 + complexity as f64 / 1000.0;
    state.rate_limit.take(&key, tokens).map_err(|wait| {
        crate::telemetry::rate_limited();
        let error = crate::error::AppError::RateLimited {
            message: "too many requests for this credential; slow down".into(),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        };
        let error: async_graphql::Error = error.into();
        let mut refused = ServerError::new(error.message, None);
        refused.extensions = error.extensions;
        refused
    })
}

//! What a document asks for, read before and after execution: whether it is introspection
//! only (it then runs without the depth limit meant for data queries), and GraphQL's null
//! propagation at the root (a non-null root field that errors makes `data` null).

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet, TypeKind,
};
use async_graphql::{PathSegment, Pos, Response, ServerError, Value};

/// The operation a request runs: the named one, or the only one.
pub fn selected<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

/// The root fields a selection set selects, through fragments: (response key, field name).
/// Fragments nested deeper than 16 are not followed: `false` then, so callers fail closed.
fn root_fields(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    out: &mut Vec<(String, String)>,
) -> bool {
    if depth > 16 {
        return false;
    }
    let mut complete = true;
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let key = field.alias.as_ref().unwrap_or(&field.name);
                out.push((key.node.to_string(), field.name.node.to_string()));
            }
            Selection::InlineFragment(fragment) => {
                complete &= root_fields(doc, &fragment.node.selection_set.node, depth + 1, out);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    complete &= root_fields(doc, &fragment.node.selection_set.node, depth + 1, out);
                }
            }
        }
    }
    complete
}

/// Whether the operation asks for nothing but `__schema`, `__type` and `__typename` (what
/// GraphiQL, codegen and client libraries send to learn the schema).
pub fn introspection_only(doc: &ExecutableDocument, name: Option<&str>) -> bool {
    let Some(op) = selected(doc, name) else {
        return false;
    };
    if op.ty != OperationType::Query {
        return false;
    }
    let mut fields = Vec::new();
    let complete = root_fields(doc, &op.selection_set.node, 0, &mut fields);
    complete
        && !fields.is_empty()
        && fields
            .iter()
            .all(|(_, f)| matches!(f.as_str(), "__schema" | "__type" | "__typename"))
}

/// The name of the argument whose value sits at `pos` in the operation (through fragments): where
/// a value that failed to parse (`"yesterday"` as a `DateTime`) was given.
fn argument_at(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    pos: Pos,
    depth: usize,
) -> Option<String> {
    if depth > 32 {
        return None;
    }
    for item in &set.items {
        let found = match &item.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find(|(_, value)| value.pos == pos)
                .map(|(name, _)| name.node.to_string())
                .or_else(|| argument_at(doc, &field.node.selection_set.node, pos, depth + 1)),
            Selection::InlineFragment(fragment) => {
                argument_at(doc, &fragment.node.selection_set.node, pos, depth + 1)
            }
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .and_then(|f| argument_at(doc, &f.node.selection_set.node, pos, depth + 1)),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Names the argument of each error where a value failed to parse as its type (the engine's
/// message says which type, not which argument): `extensions.field` is set to the argument and
/// the message starts with it, as for the API's own input errors.
pub fn name_unparsed_arguments(query: &str, operation: Option<&str>, errors: &mut [ServerError]) {
    let unnamed = |e: &ServerError| {
        e.message.starts_with("Failed to parse")
            && !e.locations.is_empty()
            && e.extensions
                .as_ref()
                .is_none_or(|x| x.get("field").is_none())
    };
    if !errors.iter().any(unnamed) {
        return;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return;
    };
    let Some(op) = selected(&doc, operation) else {
        return;
    };
    for err in errors.iter_mut().filter(|e| unnamed(e)) {
        if let Some(name) = argument_at(&doc, &op.selection_set.node, err.locations[0], 0) {
            err.message = format!("{name}: {}", err.message);
            err.extensions
                .get_or_insert_with(Default::default)
                .set("field", name.as_str());
        }
    }
}

fn root_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    }
}

/// The root fields whose type is non-null, by operation type, read from the schema's SDL.
#[derive(Debug, Clone, Default)]
pub struct NonNullRoots(HashSet<(&'static str, String)>);

impl NonNullRoots {
    /// Reads them from an SDL (`Query`, `Mutation` and `Subscription` as the root names).
    pub fn from_sdl(sdl: &str) -> NonNullRoots {
        let mut roots = HashSet::new();
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return NonNullRoots(roots);
        };
        let names: HashMap<&str, &'static str> = [
            ("Query", "Query"),
            ("Mutation", "Mutation"),
            ("Subscription", "Subscription"),
        ]
        .into_iter()
        .collect();
        for definition in &doc.definitions {
            let async_graphql::parser::types::TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let Some(op) = names.get(ty.node.name.node.as_str()) else {
                continue;
            };
            if let TypeKind::Object(object) = &ty.node.kind {
                for field in &object.fields {
                    if !field.node.ty.node.nullable {
                        roots.insert((*op, field.node.name.node.to_string()));
                    }
                }
            }
        }
        NonNullRoots(roots)
    }

    /// Applies the spec's null propagation at the root: when a non-null root field errored,
    /// `data` is null (async-graphql leaves the other fields and drops that one).
    pub fn propagate(&self, response: &mut Response, root: &RootShape) {
        if response.errors.is_empty() || response.data == Value::Null {
            return;
        }
        let nulls_data = response.errors.iter().any(|error| {
            let Some(PathSegment::Field(key)) = error.path.first() else {
                return false;
            };
            let errored_here = match &response.data {
                // The field itself failed (absent or null), not something below it.
                Value::Object(data) => {
                    error.path.len() == 1
                        || data
                            .get(key.as_str())
                            .is_none_or(|value| *value == Value::Null)
                }
                _ => false,
            };
            errored_here
                && root
                    .fields
                    .iter()
                    .any(|(k, field)| k == key && self.0.contains(&(root.operation, field.clone())))
        });
        if nulls_data {
            response.data = Value::Null;
        }
    }
}

/// The root of the operation a request runs: its type and (response key, field name) pairs.
#[derive(Debug, Clone, Default)]
pub struct RootShape {
    operation: &'static str,
    fields: Vec<(String, String)>,
    /// Fragments nested too deep were not followed: the fields may be incomplete.
    truncated: bool,
}

impl RootShape {
    /// The root of the selected operation (empty when none is selected).
    pub fn of(doc: &ExecutableDocument, name: Option<&str>) -> RootShape {
        let Some(op) = selected(doc, name) else {
            return RootShape::default();
        };
        let mut fields = Vec::new();
        let complete = root_fields(doc, &op.selection_set.node, 0, &mut fields);
        RootShape {
            operation: root_name(op.ty),
            fields,
            truncated: !complete,
        }
    }

    /// How many sign-in fields (`login`, `refreshSession`, `exchangeApiKey`, aliases included)
    /// the operation runs: each costs a password or token check.
    pub fn sign_ins(&self) -> usize {
        if self.operation != "Mutation" {
            return 0;
        }
        if self.truncated {
            // Unknown: count it as more than any request may carry.
            return usize::MAX;
        }
        self.fields
            .iter()
            .filter(|(_, f)| matches!(f.as_str(), "login" | "refreshSession" | "exchangeApiKey"))
            .count()
    }

    /// Whether the operation only signs in (`login`, `refreshSession`, `exchangeApiKey`):
    /// the way in needs no trust, so a trusted-documents list does not gate it.
    pub fn only_signs_in(&self) -> bool {
        !self.truncated
            && self.operation == "Mutation"
            && !self.fields.is_empty()
            && self.fields.iter().all(|(_, f)| {
                matches!(
                    f.as_str(),
                    "login" | "refreshSession" | "exchangeApiKey" | "__typename"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    const SDL: &str = "type Query { me: Principal! maybe: Int }\ntype Principal { id: ID! }\n";

    #[test]
    fn introspection_only_documents_are_told_from_data_queries() {
        let doc = parse_query("{ __schema { types { name } } __typename }").unwrap();
        assert!(introspection_only(&doc, None));
        let doc =
            parse_query("query A { __type(name: \"X\") { name } } query B { me { id } }").unwrap();
        assert!(introspection_only(&doc, Some("A")));
        assert!(!introspection_only(&doc, Some("B")));
        let doc = parse_query(
            "{ ...F } fragment F on Query { __schema { queryType { name } } me { id } }",
        )
        .unwrap();
        assert!(!introspection_only(&doc, None));
    }

    #[test]
    fn a_failed_non_null_root_field_nulls_data() {
        let roots = NonNullRoots::from_sdl(SDL);
        let doc = parse_query("{ who: me { id } maybe }").unwrap();
        let mut response =
            Response::new(Value::from_json(serde_json::json!({"maybe": 1})).unwrap());
        let mut error = async_graphql::ServerError::new("no", None);
        error.path = vec![PathSegment::Field("who".into())];
        response.errors.push(error);
        roots.propagate(&mut response, &RootShape::of(&doc, None));
        assert_eq!(response.data, Value::Null);
        // A nullable root field's error leaves data alone.
        let doc = parse_query("{ maybe }").unwrap();
        let mut response =
            Response::new(Value::from_json(serde_json::json!({"maybe": null})).unwrap());
        let mut error = async_graphql::ServerError::new("no", None);
        error.path = vec![PathSegment::Field("maybe".into())];
        response.errors.push(error);
        roots.propagate(&mut response, &RootShape::of(&doc, None));
        assert_ne!(response.data, Value::Null);
    }
}

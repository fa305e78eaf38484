//! Parsed documents, remembered by their text: clients send the same few documents over and
//! over, and parsing and validating are a large share of a small query's cost. A document's
//! validation outcome is remembered with it, per operation name, but only when it validated
//! without variables: with the schema fixed for the life of the process, validation then
//! depends on nothing else, so a document that passed once passes again with the same
//! complexity, depth and cache control. One with variables is validated on every request (its
//! values are checked against their types), as is one that failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Request, ValidationResult};

/// Most documents remembered; past this the cache starts over (cheap bound, not an LRU).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are not remembered (they are rare and would bloat the cache).
const MAX_LENGTH: usize = 16 * 1024;

/// Whether `name` picks one operation of `document` (async-graphql refuses the request after
/// validating it otherwise). Only such names are remembered, so what a document remembers is
/// bounded by its own text, whatever names clients make up.
fn selects_one(document: &ExecutableDocument, name: Option<&str>) -> bool {
    // `selected` lets any name through with a lone anonymous operation; async-graphql does not.
    let named_anonymous =
        matches!(document.operations, DocumentOperations::Single(_)) && name.is_some();
    !named_anonymous && crate::graphql::shape::selected(document, name).is_some()
}

/// Most operation names a document remembers validation outcomes for.
const MAX_OPERATIONS: usize = 8;

/// Query text → parsed document. One cache serves one server: the validation outcomes it keeps
/// hold for the schemas that server runs, where a document always runs on the same schema (the
/// introspection-only one is chosen by the document alone) with limits fixed at start.
#[derive(Debug, Default)]
pub struct DocumentCache {
    documents: Mutex<HashMap<String, Arc<Remembered>>>,
}

/// A remembered document and the operations of it that validated without variables.
#[derive(Debug)]
pub struct Remembered {
    document: ExecutableDocument,
    validated: Mutex<Vec<(Option<String>, ValidationResult)>>,
}

/// Request data that lets the admission extension reuse (or record) a document's validation:
/// present only for a remembered document sent without variables.
#[derive(Debug, Clone)]
pub struct ValidationMemo {
    remembered: Arc<Remembered>,
    operation: Option<String>,
}

impl ValidationMemo {
    /// The outcome of an earlier validation of this operation, if it passed.
    pub fn recall(&self) -> Option<ValidationResult> {
        let validated = self.remembered.validated.lock().ok()?;
        validated
            .iter()
            .find(|(name, _)| *name == self.operation)
            .map(|(_, result)| *result)
    }

    /// Records that this operation passed validation with `result`.
    pub fn remember(&self, result: ValidationResult) {
        if let Ok(mut validated) = self.remembered.validated.lock()
            && validated.len() < MAX_OPERATIONS
            && !validated.iter().any(|(name, _)| *name == self.operation)
        {
            validated.push((self.operation.clone(), result));
        }
    }
}

impl DocumentCache {
    /// Gives `request` its parsed document, from the cache or by parsing (and remembering) it.
    /// A document that does not parse is left for the executor to report with its code.
    ///
    /// The memo comes with a remembered document sent without variables.
    pub fn prepare<'r>(
        &self,
        request: &'r mut Request,
    ) -> Option<(&'r ExecutableDocument, Option<ValidationMemo>)> {
        let cached = self
            .documents
            .lock()
            .ok()
            .and_then(|documents| documents.get(&request.query).cloned());
        let remembered = match cached {
            Some(remembered) => {
                request.set_parsed_query(remembered.document.clone());
                Some(remembered)
            }
            None => {
                let document = request.parsed_query().ok()?.clone();
                if request.query.len() <= MAX_LENGTH
                    && let Ok(mut documents) = self.documents.lock()
                {
                    if documents.len() >= MAX_DOCUMENTS {
                        documents.clear();
                    }
                    let remembered = Arc::new(Remembered {
                        document,
                        validated: Mutex::default(),
                    });
                    documents.insert(request.query.clone(), remembered.clone());
                    Some(remembered)
                } else {
                    None
                }
            }
        };
        let name = request.operation_name.as_deref();
        let memo = remembered
            .filter(|remembered| {
                request.variables.is_empty() && selects_one(&remembered.document, name)
            })
            .map(|remembered| ValidationMemo {
                remembered,
                operation: request.operation_name.clone(),
            });
        Some((request.parsed_query().ok()?, memo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, name: Option<&str>, variables: serde_json::Value) -> Request {
        let mut request =
            Request::new(query).variables(async_graphql::Variables::from_json(variables));
        if let Some(name) = name {
            request = request.operation_name(name);
        }
        request
    }

    fn memo(cache: &DocumentCache, request: &mut Request) -> Option<ValidationMemo> {
        cache.prepare(request).and_then(|(_, memo)| memo)
    }

    #[test]
    fn only_a_variable_free_request_naming_one_of_its_operations_gets_a_memo() {
        let cache = DocumentCache::default();
        let single = "{ serverInfo { version } }";
        let named = "query A { me { id } } query B($n: Int) { cameras(first: $n) { totalCount } }";
        let none = serde_json::json!({});
        assert!(memo(&cache, &mut request(single, None, none.clone())).is_some());
        assert!(memo(&cache, &mut request(single, Some("A"), none.clone())).is_none());
        assert!(memo(&cache, &mut request(named, Some("B"), none.clone())).is_some());
        assert!(memo(&cache, &mut request(named, Some("Made_up"), none.clone())).is_none());
        assert!(memo(&cache, &mut request(named, None, none.clone())).is_none());
        let with_n = serde_json::json!({"n": 2});
        assert!(memo(&cache, &mut request(named, Some("B"), with_n)).is_none());
    }

    #[test]
    fn outcomes_are_kept_per_operation_and_bounded() {
        let cache = DocumentCache::default();
        let named = "query A { me { id } } query B { me { id } }";
        let none = serde_json::json!({});
        let a = memo(&cache, &mut request(named, Some("A"), none.clone())).unwrap();
        let b = memo(&cache, &mut request(named, Some("B"), none.clone())).unwrap();
        assert!(a.recall().is_none());
        a.remember(ValidationResult {
            cache_control: Default::default(),
            complexity: 7,
            depth: 2,
        });
        assert_eq!(a.recall().map(|r| r.complexity), Some(7));
        assert!(b.recall().is_none(), "B has not validated");
        // The next request for the same text shares what A remembered.
        let again = memo(&cache, &mut request(named, Some("A"), none)).unwrap();
        assert_eq!(again.recall().map(|r| r.depth), Some(2));
    }
}

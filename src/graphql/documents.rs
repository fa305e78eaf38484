//! Parsed documents, remembered by their text: clients send the same few documents over and
//! over, and parsing and validating are a large share of a small query's cost. A document's
//! validation outcome is remembered with it, per operation name, but only when it validated
//! without variables: with the schema fixed for the life of the process, validation then
//! depends on nothing else, so a document that passed once passes again with the same
//! complexity, depth and cache control. One with variables is validated on every request (its
//! values are checked against their types), as is one that failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ValidationResult};

/// Most documents remembered; past this the cache starts over (cheap bound, not an LRU).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are not remembered (they are rare and would bloat the cache).
const MAX_LENGTH: usize = 16 * 1024;

/// Most operation names a document remembers validation outcomes for.
const MAX_OPERATIONS: usize = 8;

/// Query text → parsed document.
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
        let memo = remembered
            .filter(|_| request.variables.is_empty())
            .map(|remembered| ValidationMemo {
                remembered,
                operation: request.operation_name.clone(),
            });
        Some((request.parsed_query().ok()?, memo))
    }
}

//! Parsed documents, remembered by their text: clients send the same few documents over and
//! over, and parsing is a large share of a small query's cost. Validation still runs on every
//! request (async-graphql does it per execution), so a cached document is never trusted blindly.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Most documents remembered; past this the cache starts over (cheap bound, not an LRU).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are not remembered (they are rare and would bloat the cache).
const MAX_LENGTH: usize = 16 * 1024;

/// Query text → parsed document.
#[derive(Debug, Default)]
pub struct DocumentCache {
    documents: Mutex<HashMap<String, ExecutableDocument>>,
}

impl DocumentCache {
    /// Gives `request` its parsed document, from the cache or by parsing (and remembering) it.
    /// A document that does not parse is left for the executor to report with its code.
    pub fn prepare<'r>(&self, request: &'r mut Request) -> Option<&'r ExecutableDocument> {
        let cached = self
            .documents
            .lock()
            .ok()
            .and_then(|documents| documents.get(&request.query).cloned());
        match cached {
            Some(document) => request.set_parsed_query(document),
            None => {
                let document = request.parsed_query().ok()?.clone();
                if request.query.len() <= MAX_LENGTH
                    && let Ok(mut documents) = self.documents.lock()
                {
                    if documents.len() >= MAX_DOCUMENTS {
                        documents.clear();
                    }
                    documents.insert(request.query.clone(), document);
                }
            }
        }
        request.parsed_query().ok()
    }
}

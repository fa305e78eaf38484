//! Persisted documents: Apollo's automatic persisted queries (a client sends a document's
//! SHA-256 instead of its text, and the text once when the server does not know it yet), and
//! an operator's list of trusted documents that, when set, are the only ones non-admin
//! credentials may run.
//!
//! The trusted list is a JSON file (`HELDAR_TRUSTED_DOCUMENTS`): an Apollo persisted-query
//! manifest (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}…]}`),
//! or a plain object of `{"<sha256 hex>": "<document>"}`. Each entry's hash is checked against
//! its text when the file is read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::auth::principal::{RequestAuth, Role};

/// Documents remembered from clients at most; past this the cache starts over.
const MAX_REMEMBERED: usize = 2048;

/// Why a persisted-query request cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The hash is unknown: send the document with it once (Apollo's protocol).
    NotFound,
    /// The document's SHA-256 is not the hash sent with it.
    HashMismatch,
    /// The extension is not `{version: 1, sha256Hash: "<hex>"}`.
    Malformed(&'static str),
    /// Trusted documents are on and this one is not among them.
    NotTrusted,
}

impl Refusal {
    /// As a GraphQL error carrying its code.
    pub fn to_error(&self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message(), None);
        crate::error::set_code(&mut error, self.code());
        error
    }

    /// The error code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Refusal::HashMismatch | Refusal::Malformed(_) => "BAD_REQUEST",
            Refusal::NotTrusted => "PERSISTED_QUERY_NOT_IN_LIST",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            // Apollo's link looks for this exact message as well as the code.
            Refusal::NotFound => "PersistedQueryNotFound".into(),
            Refusal::HashMismatch => "provided sha256Hash does not match the query".into(),
            Refusal::Malformed(why) => format!("extensions.persistedQuery: {why}"),
            Refusal::NotTrusted => "this server runs only its trusted documents for credentials other than admins; ask an admin to add this operation".into(),
        }
    }
}

/// The documents this server knows by hash.
#[derive(Debug, Default)]
pub struct PersistedDocuments {
    remembered: Mutex<HashMap<String, Arc<str>>>,
    trusted: Option<HashMap<String, Arc<str>>>,
}

/// The lowercase hex SHA-256 of a document's text.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl PersistedDocuments {
    /// With the trusted documents of `path`, if given; the error says what is wrong.
    pub fn load(path: Option<&Path>) -> Result<PersistedDocuments, String> {
        let trusted = match path {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let json: Json = serde_json::from_str(&text)
                    .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
                Some(parse_trusted(&json)?)
            }
        };
        Ok(PersistedDocuments {
            remembered: Mutex::default(),
            trusted,
        })
    }

    /// With a trusted list in force, refuses a document that is not on it, unless an admin
    /// sends it or it only signs in (`signs_in`: the way in needs no trust).
    pub fn admit(&self, auth: &RequestAuth, query: &str, signs_in: bool) -> Result<(), Refusal> {
        let admin = matches!(auth, RequestAuth::Authenticated(p) if p.role == Role::Admin);
        if self.enforcing() && !admin && !signs_in && !self.trusted(query) {
            return Err(Refusal::NotTrusted);
        }
        Ok(())
    }

    /// Whether a trusted list is in force.
    pub fn enforcing(&self) -> bool {
        self.trusted.is_some()
    }

    /// Resolves a request's `persistedQuery` extension: a hash alone is replaced by the text
    /// it stands for; a hash with text is checked and remembered. Requests without the
    /// extension pass untouched.
    pub fn resolve(&self, request: &mut Request) -> Result<(), Refusal> {
        let Some(extension) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let extension = extension
            .clone()
            .into_json()
            .map_err(|_| Refusal::Malformed("not an object"))?;
        if extension.get("version").and_then(Json::as_i64) != Some(1) {
            return Err(Refusal::Malformed("only version 1 is supported"));
        }
        let hash = extension
            .get("sha256Hash")
            .and_then(Json::as_str)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(Refusal::Malformed("sha256Hash must be 64 hex digits"))?
            .to_ascii_lowercase();
        if request.query.trim().is_empty() {
            let known = self.lookup(&hash).ok_or(Refusal::NotFound)?;
            request.query = known.to_string();
            return Ok(());
        }
        if sha256_hex(&request.query) != hash {
            return Err(Refusal::HashMismatch);
        }
        self.remember(hash, &request.query);
        Ok(())
    }

    /// Whether the document may run for a caller that is not an admin.
    pub fn trusted(&self, query: &str) -> bool {
        match &self.trusted {
            None => true,
            Some(trusted) => trusted.contains_key(&sha256_hex(query)),
        }
    }

    fn lookup(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(text) = self.trusted.as_ref().and_then(|t| t.get(hash)) {
            return Some(text.clone());
        }
        self.remembered.lock().ok()?.get(hash).cloned()
    }

    fn remember(&self, hash: String, text: &str) {
        if let Ok(mut remembered) = self.remembered.lock() {
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
            remembered.insert(hash, Arc::from(text));
        }
    }
}

/// The trusted documents of a manifest or a `{hash: text}` object, each hash checked.
fn parse_trusted(json: &Json) -> Result<HashMap<String, Arc<str>>, String> {
    let mut trusted = HashMap::new();
    let mut add = |hash: Option<&str>, body: &str| -> Result<(), String> {
        let actual = sha256_hex(body);
        if let Some(hash) = hash
            && !hash.eq_ignore_ascii_case(&actual)
        {
            return Err(format!(
                "the document listed as {hash} hashes to {actual}; regenerate the list"
            ));
        }
        trusted.insert(actual, Arc::from(body));
        Ok(())
    };
    match json {
        Json::Object(map) if map.get("format").and_then(Json::as_str).is_some() => {
            let operations = map
                .get("operations")
                .and_then(Json::as_array)
                .ok_or("a manifest needs an `operations` array")?;
            for op in operations {
                let body = op["body"]
                    .as_str()
                    .ok_or("every operation needs a `body`")?;
                add(op["id"].as_str(), body)?;
            }
        }
        Json::Object(map) => {
            for (hash, body) in map {
                let body = body
                    .as_str()
                    .ok_or("every value must be a document's text")?;
                add(Some(hash), body)?;
            }
        }
        _ => return Err("expected a persisted-query manifest or a {hash: document} object".into()),
    }
    Ok(trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_extension(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extension = serde_json::json!({"version": 1, "sha256Hash": hash});
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(extension).unwrap(),
        );
        request
    }

    #[test]
    fn a_hash_is_unknown_until_its_document_has_been_sent_once() {
        let docs = PersistedDocuments::default();
        let text = "{ me { id } }";
        let hash = sha256_hex(text);
        assert_eq!(
            docs.resolve(&mut with_extension("", &hash)),
            Err(Refusal::NotFound)
        );
        assert_eq!(docs.resolve(&mut with_extension(text, &hash)), Ok(()));
        let mut by_hash = with_extension("", &hash);
        assert_eq!(docs.resolve(&mut by_hash), Ok(()));
        assert_eq!(by_hash.query, text);
        let other = sha256_hex("{ other }");
        assert_eq!(
            docs.resolve(&mut with_extension(text, &other)),
            Err(Refusal::HashMismatch)
        );
    }

    #[test]
    fn trusted_lists_are_checked_and_enforced() {
        let text = "query Me { me { id } }";
        let manifest = serde_json::json!({"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": sha256_hex(text), "name": "Me", "type": "query", "body": text}]});
        let trusted = parse_trusted(&manifest).unwrap();
        let docs = PersistedDocuments {
            remembered: Mutex::default(),
            trusted: Some(trusted),
        };
        assert!(docs.trusted(text));
        assert!(!docs.trusted("{ users { totalCount } }"));
        let mut by_hash = with_extension("", &sha256_hex(text));
        assert_eq!(
            docs.resolve(&mut by_hash),
            Ok(()),
            "trusted documents are known by hash"
        );
        let wrong = serde_json::json!({"0000000000000000000000000000000000000000000000000000000000000000": text});
        assert!(parse_trusted(&wrong).is_err());
    }
}

//! What an operation task sends the socket loop, and how a private execution's results get
//! there.

use std::sync::Arc;

use async_graphql::{Response, ServerError, Value};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::ensure_codes;
use crate::graphql::shape::{NonNullRoots, RootShape};

/// An event from an operation task to the socket loop.
pub enum Outgoing {
    /// A result to send as `next`.
    Next {
        /// The operation's id.
        id: String,
        /// Which use of the id it belongs to.
        generation: u64,
        /// The result, boxed: the socket's channel allocates its slots up front, so a small
        /// message type keeps an idle socket small.
        response: Box<Response>,
    },
    /// A result already serialized (by a shared execution).
    Raw {
        /// The operation's id.
        id: String,
        /// Which use of the id it belongs to.
        generation: u64,
        /// The serialized result.
        payload: Arc<str>,
    },
    /// The operation failed before it ran: `error`, and no `complete`.
    Error {
        /// The operation's id.
        id: String,
        /// Which use of the id it belongs to.
        generation: u64,
        /// Why.
        errors: Vec<ServerError>,
    },
    /// The operation ended.
    Complete {
        /// The operation's id.
        id: String,
        /// Which use of the id it belongs to.
        generation: u64,
    },
}

impl Outgoing {
    /// The operation id and generation it belongs to.
    pub fn key(&self) -> (&str, u64) {
        match self {
            Outgoing::Next { id, generation, .. }
            | Outgoing::Raw { id, generation, .. }
            | Outgoing::Error { id, generation, .. }
            | Outgoing::Complete { id, generation } => (id, *generation),
        }
    }
}

/// Sends a stream's results to the socket loop: a failure before execution as `error`, then
/// every result, then `complete`.
pub async fn forward(
    stream: impl futures_util::Stream<Item = Response>,
    tx: mpsc::Sender<Outgoing>,
    id: String,
    generation: u64,
    nulls: Nulls,
) {
    let mut stream = std::pin::pin!(stream);
    let mut first = true;
    while let Some(mut response) = stream.next().await {
        nulls.roots.propagate(&mut response, &nulls.root);
        crate::graphql::shape::name_unparsed_arguments(
            &nulls.source.0,
            nulls.source.1.as_deref(),
            &mut response.errors,
        );
        ensure_codes(&mut response.errors);
        if first && is_request_error(&response) {
            let _ = tx
                .send(Outgoing::Error {
                    id,
                    generation,
                    errors: response.errors,
                })
                .await;
            return;
        }
        first = false;
        if tx
            .send(Outgoing::Next {
                id: id.clone(),
                generation,
                response: Box::new(response),
            })
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = tx.send(Outgoing::Complete { id, generation }).await;
}

/// How each response of one operation is settled: null propagation at the root, and naming
/// the argument of a value that did not parse.
#[derive(Clone)]
pub struct Nulls {
    /// The schema's non-null root fields.
    pub roots: Arc<NonNullRoots>,
    /// The operation's root fields.
    pub root: RootShape,
    /// The operation's document and name, to name the argument of a value that did not parse.
    pub source: (Arc<str>, Option<String>),
}

/// A response that failed before execution: no data and no error tied to a field.
pub fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

//! Shared execution of identical live subscriptions, the multiplexing Hasura does: subscribers
//! whose document, operation, variables, role and camera scope are equal share one execution,
//! and its serialized payloads are fanned out to each of them. A thousand dashboards watching
//! the same camera cost one resolution and one serialization per event, not a thousand.
//!
//! Only operations whose single root field is listed in [`SHARED_FIELDS`] and that start live
//! (no `after` cursor) are shared. A member that falls more than the group's buffer behind, or
//! whose group ends without telling it why, leaves the group and continues on a private
//! execution that resumes after the last event it received ([`ResumeAfter`]), so nothing is
//! lost or repeated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Response, ServerError};
use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;

use crate::auth::principal::CameraScope;
use crate::auth::principal::RequestAuth;
use crate::error::ensure_codes;
use crate::graphql::ws::operation::Outgoing;

/// Root subscription fields whose items depend only on the document, the variables and the
/// caller's role and scope, and that report the sequence of each item through [`SeqProbe`].
pub const SHARED_FIELDS: &[&str] = &["perceptionEvents"];

/// Request data: where a subscription stream reports where it started live and the sequence of
/// the item it yields last.
#[derive(Clone, Debug)]
pub struct SeqProbe {
    last: Arc<AtomicI64>,
    start: Arc<AtomicI64>,
}

impl Default for SeqProbe {
    fn default() -> Self {
        SeqProbe {
            last: Arc::new(AtomicI64::new(0)),
            start: Arc::new(AtomicI64::new(-1)),
        }
    }
}

impl SeqProbe {
    /// Records the sequence of the item about to be yielded.
    pub fn set(&self, seq: i64) {
        self.last.store(seq, Ordering::Release);
    }

    /// Records where the stream started live (the newest sequence when it began).
    pub fn set_start(&self, seq: i64) {
        self.start.store(seq, Ordering::Release);
        self.last.fetch_max(seq, Ordering::AcqRel);
    }

    /// The last sequence recorded (0 before any).
    pub fn get(&self) -> i64 {
        self.last.load(Ordering::Acquire)
    }

    /// Where the stream started live; `None` until it has.
    pub fn start(&self) -> Option<i64> {
        Some(self.start.load(Ordering::Acquire)).filter(|s| *s >= 0)
    }
}

/// Request data: resume after this sequence, as if the client had passed it as `after`.
#[derive(Clone, Copy, Debug)]
pub struct ResumeAfter(pub i64);

/// What makes two subscriptions' output identical.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey {
    query: String,
    operation_name: Option<String>,
    variables: String,
    role: String,
    scope: Option<Vec<String>>,
}

impl GroupKey {
    /// The key of a subscription that can be shared, or `None`.
    pub fn of(
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&serde_json::Value>,
        auth: &RequestAuth,
    ) -> Option<GroupKey> {
        let RequestAuth::Authenticated(principal) = auth else {
            return None;
        };
        if !shareable(query, operation_name) {
            return None;
        }
        let mut scope = match &principal.scope {
            CameraScope::All => None,
            CameraScope::Cameras(ids) => Some(ids.clone()),
        };
        if let Some(ids) = scope.as_mut() {
            ids.sort();
            ids.dedup();
        }
        Some(GroupKey {
            query: query.to_owned(),
            operation_name: operation_name.map(str::to_owned),
            variables: variables.map(|v| v.to_string()).unwrap_or_default(),
            role: principal.role.to_string(),
            scope,
        })
    }
}

/// Whether the selected operation is a subscription of one shared root field without `after`.
fn shareable(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return false,
        },
        _ => return false,
    };
    let operation = &operation.node;
    if operation.ty != OperationType::Subscription || !operation.directives.is_empty() {
        return false;
    }
    let [selection] = operation.selection_set.node.items.as_slice() else {
        return false;
    };
    let Selection::Field(field) = &selection.node else {
        return false;
    };
    let field = &field.node;
    SHARED_FIELDS.contains(&field.name.node.as_str())
        && field.directives.is_empty()
        && field.arguments.iter().all(|(name, _)| name.node != "after")
}

/// One item of a shared execution.
#[derive(Debug)]
pub enum Item {
    /// A result: the sequence it carries and its serialized `payload`.
    Next {
        /// Sequence of the item (0 when the field does not report one).
        seq: i64,
        /// The GraphQL response, serialized once.
        payload: Arc<str>,
    },
    /// The operation failed before it produced anything.
    Error(Vec<ServerError>),
    /// The stream ended.
    Complete,
    /// The shared execution stopped without an answer (it panicked): go on alone.
    Abandoned,
}

/// One shared execution and its subscribers.
#[derive(Debug)]
pub struct Group {
    sender: broadcast::Sender<Arc<Item>>,
    probe: SeqProbe,
    task: AbortHandle,
}

impl Group {
    /// Where a member that leaves with nothing received resumes: after the group's live start,
    /// or `None` when the group never started (the member cannot have missed anything).
    pub fn start(&self) -> Option<i64> {
        self.probe.start()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The last member left: stop executing.
        self.task.abort();
    }
}

/// A subscriber's place in a group; dropping it leaves the group.
#[derive(Debug)]
pub struct Membership {
    /// Keeps the group running.
    pub group: Arc<Group>,
    /// The group's items from the moment of joining.
    pub receiver: broadcast::Receiver<Arc<Item>>,
    /// The last sequence the group had sent when this member joined.
    pub joined_after: i64,
}

impl Membership {
    /// Forwards the group's items to the socket loop as operation `id`. Returns `None` when the
    /// operation is over (completed, failed, or the socket went away); otherwise the member
    /// fell too far behind, or the group died, and must go on alone: `Some` with where to
    /// resume — after the last event it received, or, with none received, after where the
    /// group started live (a group that never started cannot have been missed).
    pub async fn forward(
        mut self,
        tx: &mpsc::Sender<Outgoing>,
        id: &str,
        generation: u64,
    ) -> Option<Option<ResumeAfter>> {
        let mut last = self.joined_after;
        loop {
            let item = match self.receiver.recv().await {
                Ok(item) => item,
                // Too far behind the group, or the group stopped without a final item.
                Err(_) => break,
            };
            let out = match &*item {
                Item::Next { seq, payload } => {
                    if *seq != 0 {
                        if *seq <= last {
                            continue;
                        }
                        last = *seq;
                    }
                    Outgoing::Raw {
                        id: id.to_owned(),
                        generation,
                        payload: payload.clone(),
                    }
                }
                Item::Error(errors) => Outgoing::Error {
                    id: id.to_owned(),
                    generation,
                    errors: errors.clone(),
                },
                Item::Complete => Outgoing::Complete {
                    id: id.to_owned(),
                    generation,
                },
                // The shared execution died: go on alone.
                Item::Abandoned => break,
            };
            let done = !matches!(out, Outgoing::Raw { .. });
            if tx.send(out).await.is_err() || done {
                return None;
            }
        }
        let resume = if last > 0 {
            Some(last)
        } else {
            self.group.start()
        };
        tracing::debug!(
            last,
            "subscriber left its shared execution to catch up alone"
        );
        Some(resume.map(ResumeAfter))
    }
}

/// The registry of running groups.
#[derive(Debug)]
pub struct Multiplexer {
    groups: Arc<Mutex<HashMap<GroupKey, Weak<Group>>>>,
    capacity: usize,
    departures: AtomicU64,
}

impl Multiplexer {
    /// A registry whose groups buffer `capacity` items for slow members.
    pub fn new(capacity: usize) -> Multiplexer {
        Multiplexer {
            groups: Default::default(),
            capacity: capacity.max(16),
            departures: AtomicU64::new(0),
        }
    }

    /// Counts a member that left its group to continue on a private execution.
    pub fn departed(&self) {
        self.departures.fetch_add(1, Ordering::Relaxed);
    }

    /// Members that left their group to continue alone, since start-up.
    pub fn departures(&self) -> u64 {
        self.departures.load(Ordering::Relaxed)
    }

    /// Running groups (for tests and metrics).
    pub fn groups(&self) -> usize {
        self.lock()
            .values()
            .filter(|g| g.strong_count() > 0)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GroupKey, Weak<Group>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the running group for `key`, or starts one with the stream `start` returns (it is
    /// given the probe its field reports sequences through).
    pub fn join<S>(&self, key: GroupKey, start: impl FnOnce(SeqProbe) -> S) -> Membership
    where
        S: Stream<Item = Response> + Send + 'static,
    {
        let mut groups = self.lock();
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            let receiver = group.sender.subscribe();
            let joined_after = group.probe.get();
            return Membership {
                group,
                receiver,
                joined_after,
            };
        }
        groups.retain(|_, g| g.strong_count() > 0);
        let (sender, receiver) = broadcast::channel(self.capacity);
        let probe = SeqProbe::default();
        let stream = start(probe.clone());
        let task = tokio::spawn(run(
            stream,
            sender.clone(),
            probe.clone(),
            self.groups.clone(),
            key.clone(),
        ))
        .abort_handle();
        let group = Arc::new(Group {
            sender,
            probe,
            task,
        });
        groups.insert(key, Arc::downgrade(&group));
        Membership {
            group,
            receiver,
            joined_after: 0,
        }
    }
}

/// Executes a group's stream and broadcasts each result serialized once.
async fn run<S>(
    stream: S,
    sender: broadcast::Sender<Arc<Item>>,
    probe: SeqProbe,
    groups: Arc<Mutex<HashMap<GroupKey, Weak<Group>>>>,
    key: GroupKey,
) where
    S: Stream<Item = Response> + Send + 'static,
{
    // However the task ends (the stream's end, a panic), the group leaves the registry and its
    // members hear of it.
    let mut finish = Finish {
        groups,
        key,
        sender: sender.clone(),
        last: None,
    };
    let mut stream = std::pin::pin!(stream);
    let mut first = true;
    let mut tagged = 0;
    finish.last = Some(loop {
        let Some(mut response) = stream.next().await else {
            break Item::Complete;
        };
        ensure_codes(&mut response.errors);
        if first && crate::graphql::ws::operation::is_request_error(&response) {
            break Item::Error(response.errors);
        }
        first = false;
        // An item that did not move the sequence (an error such as "fell too far behind")
        // carries 0, so no member mistakes it for one it already has.
        let seq = probe.get();
        let seq = if seq > tagged {
            tagged = seq;
            seq
        } else {
            0
        };
        let payload = serde_json::to_string(&response).unwrap_or_else(|_| "null".into());
        let _ = sender.send(Arc::new(Item::Next {
            seq,
            payload: payload.into(),
        }));
    });
}

/// Removes a finished group from the registry and sends its last item, under the registry's
/// lock, so a subscriber either joins in time to receive it or starts a new group.
struct Finish {
    groups: Arc<Mutex<HashMap<GroupKey, Weak<Group>>>>,
    key: GroupKey,
    sender: broadcast::Sender<Arc<Item>>,
    last: Option<Item>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let ours = groups
            .get(&self.key)
            .and_then(Weak::upgrade)
            .is_some_and(|g| g.sender.same_channel(&self.sender));
        if ours {
            groups.remove(&self.key);
        }
        let last = self.last.take().unwrap_or(Item::Abandoned);
        let _ = self.sender.send(Arc::new(last));
    }
}

//! GraphQL over HTTP (`POST /graphql`, `GET /graphql`), the websocket endpoint, and
//! GraphiQL with its embedded assets.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::{BodyExt, Limited};

use crate::error::{REQUEST_ID, codes, ensure_codes};
use crate::graphql::documents::ValidationMemo;
use crate::graphql::extension::take_tokens;
use crate::graphql::persisted::Refusal;
use crate::graphql::shape::{RootShape, introspection_only, selected};
use crate::graphql::ws::{self, Protocol, WsSettings};
use crate::http::respond::{HttpState, authenticate, json_response, refusal};
use crate::telemetry;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));
}

/// The GraphQL routes: `/graphql`, `/graphql/ws` and `/graphiql/<file>`. A request over HTTP
/// (reading its body included, so a client trickling bytes holds nothing for long) ends with
/// `408` after `timeout`; websockets live as long as their credential.
pub fn routes(timeout: std::time::Duration) -> Router<HttpState> {
    let timeout =
        tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout);
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .layer(timeout)
        .route("/graphql/ws", get(graphql_ws))
        .route("/graphiql/{file}", get(graphiql_asset))
}

/// `POST /graphql`: JSON only (text/plain and forms are refused: they are CSRF "simple requests").
async fn graphql_post(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
    if !is_json {
        telemetry::record_operation("none", "rejected", 0.0);
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "content-type must be application/json (other types are refused to prevent CSRF)",
        );
    }
    let limit = state.app.config.max_body_bytes as usize;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            telemetry::record_operation("none", "rejected", 0.0);
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                &format!("request body exceeds {limit} bytes"),
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                "could not read the request body",
            );
        }
    };
    let batch = match parse_body(&bytes) {
        Ok(batch) => batch,
        Err(err) => {
            telemetry::record_operation("none", "rejected", 0.0);
            return refusal(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("body is not a GraphQL request: {err}"),
            );
        }
    };
    let persisted_only =
        |request: &async_graphql::Request| request.extensions.contains_key("persistedQuery");
    if batch
        .iter()
        .any(|request| request.query.trim().is_empty() && !persisted_only(request))
    {
        telemetry::record_operation("none", "rejected", 0.0);
        return refusal(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            "every operation needs a non-empty `query`",
        );
    }
    if let BatchRequest::Batch(requests) = &batch {
        let max = state.app.config.max_batch as usize;
        if requests.is_empty() || requests.len() > max {
            telemetry::record_operation("none", "rejected", 0.0);
            return refusal(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("a batch must hold 1 to {max} operations"),
            );
        }
    }
    execute(state, &headers, peer_address(peer), batch).await
}

/// The body as one operation or, when it opens with `[`, a batch. Parsed straight into that
/// shape: async-graphql's untagged `BatchRequest` buffers the whole document as generic JSON
/// first and then tries each shape on it (3 % of the server's CPU under ingest load, whose
/// bodies carry their detections), and a malformed body gets serde's own message, with its line
/// and column, instead of "did not match any variant".
fn parse_body(bytes: &[u8]) -> Result<BatchRequest, serde_json::Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(bytes).map(BatchRequest::Batch),
        _ => serde_json::from_slice(bytes).map(BatchRequest::Single),
    }
}

/// The TCP peer's address, when the server was started with connection info.
pub(crate) fn peer_address(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

/// `GET /graphql`: GraphiQL for browsers; otherwise a query (never a mutation) from the URL.
async fn graphql_get(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return graphiql_page();
    }
    let mut request = match async_graphql::http::parse_query_string(query.as_deref().unwrap_or(""))
    {
        Ok(request) => request,
        Err(err) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("invalid GraphQL GET request: {err}"),
            );
        }
    };
    if let Err(refusal) = state.persisted.resolve(&mut request) {
        return persisted_refusal(&refusal);
    }
    let operation_name = request.operation_name.clone();
    let operation_type = match request.parsed_query() {
        Ok(document) => selected(document, operation_name.as_deref()).map(|op| op.ty),
        // Let the executor report the parse error with its code.
        Err(_) => Some(OperationType::Query),
    };
    if operation_type.is_some_and(|ty| ty != OperationType::Query) {
        telemetry::record_operation("none", "rejected", 0.0);
        let mut response = refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            "only queries may be sent over GET; use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(
        state,
        &headers,
        peer_address(peer),
        BatchRequest::Single(request),
    )
    .await
}

/// A request refused before it ran, as a GraphQL response carrying the refusal's code.
fn refused(refusal: &Refusal) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![refusal.to_error()])
}

/// `GET` with a persisted query that cannot run: Apollo's link expects a 200 with the code
/// for an unknown hash (it then sends the document), a 400 otherwise.
fn persisted_refusal(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::NotFound => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    self::refusal(status, refusal.code(), &refusal.message())
}

/// Whether the response is a refusal to run the document at all (it did not parse, validate
/// or fit the limits).
fn invalid(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|code| {
                    matches!(code, async_graphql::Value::String(c) if [
                        codes::PARSE_FAILED,
                        codes::VALIDATION_FAILED,
                        codes::QUERY_TOO_DEEP,
                        codes::QUERY_TOO_COMPLEX,
                    ]
                    .contains(&c.as_str()))
                })
        })
}

/// What the server learns of a request before running it.
pub(crate) struct Prepared {
    /// The metrics label, with its handles: its given name, else the name in its document.
    pub(crate) label: std::sync::Arc<telemetry::OperationMetrics>,
    /// Its root fields, for null propagation.
    pub(crate) root: RootShape,
    /// It asks for nothing but introspection.
    pub(crate) introspection: bool,
    /// Lets validation be skipped when this document passed it before.
    pub(crate) memo: Option<ValidationMemo>,
}

/// What every answer gets after execution: GraphQL's null propagation at the root, the
/// argument named where a value did not parse, and a code on every error.
fn settle(
    state: &HttpState,
    root: &RootShape,
    (query, operation): (&str, Option<&str>),
    response: &mut async_graphql::Response,
) {
    state.schemas.non_null_roots.propagate(response, root);
    crate::graphql::shape::name_unparsed_arguments(query, operation, &mut response.errors);
    ensure_codes(&mut response.errors);
}

pub(crate) fn prepare(state: &HttpState, request: &mut async_graphql::Request) -> Prepared {
    let given = request.operation_name.clone();
    let Some((doc, memo)) = state.documents.prepare(request) else {
        return Prepared {
            label: state.operation_labels.invalid(),
            root: RootShape::default(),
            introspection: false,
            memo: None,
        };
    };
    let name = match &doc.operations {
        _ if given.is_some() => given.clone(),
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            ops.keys().next().map(|name| name.to_string())
        }
        _ => None,
    };
    Prepared {
        label: state.operation_labels.label(name.as_deref()),
        root: RootShape::of(doc, given.as_deref()),
        introspection: introspection_only(doc, given.as_deref()),
        memo,
    }
}

async fn execute(
    state: HttpState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
    batch: BatchRequest,
) -> Response {
    let started = Instant::now();
    let auth = authenticate(&state, headers).await;
    let request_id = request_id(headers);
    let (single, requests) = match batch {
        BatchRequest::Single(request) => (true, vec![request]),
        BatchRequest::Batch(requests) => (false, requests),
    };
    let mut responses = Vec::with_capacity(requests.len());
    for mut request in requests {
        if let Err(refusal) = state.persisted.resolve(&mut request) {
            responses.push(refused(&refusal));
            continue;
        }
        let mut prepared = prepare(&state, &mut request);
        if let Err(refusal) =
            state
                .persisted
                .admit(&auth, &request.query, prepared.root.only_signs_in())
        {
            responses.push(refused(&refusal));
            continue;
        }
        // Each sign-in costs a password hash: one per request, and none hidden in a batch.
        let sign_ins = prepared.root.sign_ins();
        if sign_ins > 1 || (sign_ins == 1 && !single) {
            let error = crate::error::request_error(
                codes::BAD_REQUEST,
                "at most one sign-in field (login, refreshSession, exchangeApiKey) per request, and none inside a batch",
            );
            responses.push(async_graphql::Response::from_errors(vec![error]));
            continue;
        }
        let (query, operation) = (request.query.clone(), request.operation_name.clone());
        let address = address.map(crate::auth::throttle::ClientAddress);
        let mut response = run(
            &state,
            &mut prepared,
            request,
            (&auth, address),
            &request_id,
        )
        .await;
        settle(
            &state,
            &prepared.root,
            (&query, operation.as_deref()),
            &mut response,
        );
        // A document that failed validation is not an operation of this API: its made-up name
        // gets no label.
        let label = if invalid(&response) {
            state.operation_labels.invalid()
        } else {
            prepared.label
        };
        label.record(response.errors.is_empty(), started.elapsed().as_secs_f64());
        responses.push(response);
    }
    let response = match (single, responses.pop()) {
        (true, Some(one)) => BatchResponse::Single(one),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    match serde_json::to_string(&response) {
        Ok(body) if body.len() as u64 > state.app.config.max_response_bytes => {
            too_large(body.len(), state.app.config.max_response_bytes)
        }
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "could not encode the response",
        ),
    }
}

/// Runs one admitted request: a document the main schema admitted before goes to the schema
/// for remembered documents, after its rate-limit tokens are taken; any other to the schema
/// its document needs, whose admission extension parses, checks, validates and rate-limits it.
async fn run(
    state: &HttpState,
    prepared: &mut Prepared,
    request: async_graphql::Request,
    (auth, address): (
        &crate::auth::principal::RequestAuth,
        Option<crate::auth::throttle::ClientAddress>,
    ),
    request_id: &str,
) -> async_graphql::Response {
    let mut request = request.data(auth.clone());
    if let Some(address) = address {
        request = request.data(address);
    }
    // Admitted before: parse, checks and validation would give the same answer again.
    if let Some((schema, complexity)) = admitted_before(state, prepared) {
        return match take_tokens(&state.app, Some(auth), address.as_ref(), complexity) {
            Ok(()) => run_detached(schema, request, request_id.to_owned()).await,
            Err(refused) => async_graphql::Response::from_errors(vec![refused]),
        };
    }
    if let Some(memo) = prepared.memo.take() {
        request = request.data(memo);
    }
    let schema = state.schemas.for_document(prepared.introspection);
    run_detached(schema, request, request_id.to_owned()).await
}

/// The schema that runs a document the main schema admitted before, with the complexity it
/// was admitted with: only a document sent without variables, whose validation outcome is
/// remembered, and not one for the introspection schema (it has limits of its own).
fn admitted_before<'s>(
    state: &'s HttpState,
    prepared: &Prepared,
) -> Option<(&'s crate::schema::HeldarSchema, usize)> {
    if prepared.introspection && state.schemas.introspection.is_some() {
        return None;
    }
    let result = prepared.memo.as_ref()?.recall()?;
    Some((&state.schemas.remembered, result.complexity))
}

/// Runs an operation on the request's own task, so the usual request pays for no task of its
/// own; if the request's task drops it first (the client hung up, or the request timed out),
/// what remains is handed to a task of its own and runs to the end: a resolver is never
/// cancelled half way through its database calls (a cancelled BEGIN or COMMIT can leave a
/// pooled connection inside a transaction). A resolver that panics answers an internal error.
async fn run_detached(
    schema: &crate::schema::HeldarSchema,
    request: async_graphql::Request,
    request_id: String,
) -> async_graphql::Response {
    use futures_util::FutureExt;
    let schema = schema.clone();
    let run = REQUEST_ID.scope(request_id, async move { schema.execute(request).await });
    match Uncancelled::new(std::panic::AssertUnwindSafe(run).catch_unwind()).await {
        Ok(response) => response,
        Err(_) => async_graphql::Response::from_errors(vec![crate::error::request_error(
            "INTERNAL_SERVER_ERROR",
            "the operation failed: a resolver panicked",
        )]),
    }
}

/// A future that, dropped before it completes, is finished on a task of its own.
struct Uncancelled<T: Send + 'static> {
    future: Option<std::pin::Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Uncancelled<T> {
    fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Uncancelled {
            future: Some(Box::pin(future)),
        }
    }
}

impl<T: Send + 'static> Future for Uncancelled<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            panic!("Uncancelled polled after it completed");
        };
        let output = std::task::ready!(future.as_mut().poll(cx));
        this.future = None;
        std::task::Poll::Ready(output)
    }
}

impl<T: Send + 'static> Drop for Uncancelled<T> {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    future.await;
                });
            }
            Err(_) => tracing::warn!("an operation was dropped outside the runtime, unfinished"),
        }
    }
}

/// The answer that replaces one over `HELDAR_MAX_RESPONSE_BYTES`: nothing of it is sent.
fn too_large(size: usize, limit: u64) -> Response {
    let error = crate::error::response_too_large(size, limit);
    let body = async_graphql::Response::from_errors(vec![error]);
    match serde_json::to_string(&body) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "could not encode the response",
        ),
    }
}

/// Whether a websocket upgrade may proceed: a browser sends `Origin`, which must be this
/// server's own (same host and port) or one of the allowed origins; other clients send none.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Bytes read from a websocket at a time.
const WS_READ_BUFFER: usize = 2 * 1024;

/// `GET /graphql/ws`: the websocket endpoint (`graphql-transport-ws`, `graphql-ws`).
async fn graphql_ws(
    State(state): State<HttpState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let config = &state.app.config;
    if !origin_allowed(&headers, &config.allowed_origins()) {
        return refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this page's origin may not open the API's websocket (HELDAR_CORS_ORIGINS lists the ones that may)",
        );
    }
    let settings = WsSettings {
        init_timeout: config.ws_init_timeout(),
        keepalive: config.ws_keepalive(),
    };
    let max = config.ws_max_message_bytes as usize;
    // The client's order of preference decides: a client that offers the legacy protocol first
    // speaks it (Python gql does), whatever our own order would be.
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let chosen = offered
        .split(',')
        .map(str::trim)
        .find(|name| Protocol::from_name(name).is_some())
        .and_then(Protocol::from_name);
    let names: &[&'static str] = match chosen {
        Some(Protocol::LegacyWs) => &[ws::GRAPHQL_WS],
        Some(Protocol::TransportWs) => &[ws::GRAPHQL_TRANSPORT_WS],
        None => &[],
    };
    let upgrade = upgrade
        .protocols(names.iter().copied())
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite zero-fills its whole read buffer on every read (128 KiB by default), so
        // each socket would keep that much resident. Client messages are small; a larger frame
        // still gets room for its full length.
        .read_buffer_size(WS_READ_BUFFER);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(Protocol::from_name);
    upgrade.on_upgrade(move |socket| {
        ws::serve(
            socket,
            protocol,
            state.schemas.clone(),
            state.persisted.clone(),
            state.app.clone(),
            settings,
        )
    })
}

const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn graphiql_page() -> Response {
    crate::http::respond::embedded_page(assets::ASSETS, assets::MISSING, CSP, "GraphiQL")
}

/// `GET /graphiql/<file>`: the embedded GraphiQL assets.
async fn graphiql_asset(Path(file): Path<String>, headers: axum::http::HeaderMap) -> Response {
    crate::http::respond::embedded_asset(assets::ASSETS, &file, &headers)
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::Uncancelled;

    #[tokio::test]
    async fn a_dropped_operation_runs_to_its_end_on_a_task_of_its_own() {
        let finished = Arc::new(AtomicBool::new(false));
        let operation = {
            let finished = finished.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                finished.store(true, Ordering::SeqCst);
            }
        };
        // The caller gives up (as hyper does when the client hangs up) while it is pending.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), Uncancelled::new(operation));
        assert!(gave_up.await.is_err());
        assert!(!finished.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            finished.load(Ordering::SeqCst),
            "the operation was cancelled"
        );
        // One that completes answers its output on the caller's task.
        assert_eq!(Uncancelled::new(async { 7 }).await, 7);
    }
}

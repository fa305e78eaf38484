//! GraphQL over HTTP (`POST /graphql`, `GET /graphql`), the websocket endpoint, and
//! GraphiQL with its embedded assets.

use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, Limited};

use crate::error::{REQUEST_ID, codes, ensure_codes};
use crate::graphql::documents::DocumentCache;
use crate::graphql::ws::{self, Protocol, WsSettings};
use crate::http::respond::{HttpState, authenticate, json_response, refusal};
use crate::telemetry;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));
}

/// The GraphQL routes: `/graphql`, `/graphql/ws` and `/graphiql/<file>`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/graphiql/{file}", get(graphiql_asset))
}

/// `POST /graphql`: JSON only (text/plain and forms are refused: they are CSRF "simple requests").
async fn graphql_post(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
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
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
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
    if batch.iter().any(|request| request.query.trim().is_empty()) {
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
    execute(state, &headers, batch).await
}

/// `GET /graphql`: GraphiQL for browsers; otherwise a query (never a mutation) from the URL.
async fn graphql_get(
    State(state): State<HttpState>,
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
    let operation_name = request.operation_name.clone();
    let operation_type = match request.parsed_query() {
        Ok(document) => selected_operation_type(&document.operations, operation_name.as_deref()),
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
    execute(state, &headers, BatchRequest::Single(request)).await
}

fn selected_operation_type(
    operations: &DocumentOperations,
    name: Option<&str>,
) -> Option<OperationType> {
    match (operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// The metrics label of an operation: its given name, else the name in its document.
fn operation_label(documents: &DocumentCache, request: &mut async_graphql::Request) -> String {
    let given = request.operation_name.clone();
    let name = match documents.prepare(request).map(|doc| &doc.operations) {
        _ if given.is_some() => given,
        Some(DocumentOperations::Multiple(ops)) if ops.len() == 1 => {
            ops.keys().next().map(|name| name.to_string())
        }
        _ => None,
    };
    telemetry::operation_label(name.as_deref())
}

async fn execute(state: HttpState, headers: &HeaderMap, mut batch: BatchRequest) -> Response {
    let started = Instant::now();
    let auth = authenticate(&state, headers).await;
    let names: Vec<String> = batch
        .iter_mut()
        .map(|request| operation_label(&state.documents, request))
        .collect();
    let batch = batch.data(auth);
    let request_id = request_id(headers);
    let mut response = REQUEST_ID
        .scope(request_id, state.schema.execute_batch(batch))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let record = |name: &str, errors: &mut Vec<ServerError>| {
        ensure_codes(errors);
        telemetry::record_operation(
            name,
            if errors.is_empty() { "ok" } else { "error" },
            seconds,
        );
    };
    match &mut response {
        BatchResponse::Single(single) => record(&names[0], &mut single.errors),
        BatchResponse::Batch(responses) => {
            for (single, name) in responses.iter_mut().zip(&names) {
                record(name, &mut single.errors);
            }
        }
    }
    match serde_json::to_string(&response) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "could not encode the response",
        ),
    }
}

/// Bytes read from a websocket at a time.
const WS_READ_BUFFER: usize = 8 * 1024;

/// `GET /graphql/ws`: the websocket endpoint (`graphql-transport-ws`, `graphql-ws`).
async fn graphql_ws(State(state): State<HttpState>, upgrade: WebSocketUpgrade) -> Response {
    let config = &state.app.config;
    let settings = WsSettings {
        init_timeout: config.ws_init_timeout(),
        keepalive: config.ws_keepalive(),
    };
    let max = config.ws_max_message_bytes as usize;
    let upgrade = upgrade
        .protocols([ws::GRAPHQL_TRANSPORT_WS, ws::GRAPHQL_WS])
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
    upgrade.on_upgrade(move |socket| ws::serve(socket, protocol, state.schema, state.app, settings))
}

const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn graphiql_page() -> Response {
    match assets::ASSETS.iter().find(|(name, _, _)| *name == "index.html") {
        Some((_, content_type, bytes)) if assets::MISSING.is_empty() => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            Bytes::from_static(bytes),
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            format!(
                "GraphiQL was built without its assets ({}).\nRun `npm ci --prefix web`, rebuild, and reload.\n",
                assets::MISSING.join(", ")
            ),
        )
            .into_response(),
    }
}

/// `GET /graphiql/<file>`: the embedded GraphiQL assets.
async fn graphiql_asset(Path(file): Path<String>) -> Response {
    match assets::ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            Bytes::from_static(bytes),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

//! What every handler shares: the HTTP state, GraphQL-shaped refusals, JSON responses and
//! bearer authentication.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::principal::{Capability, Principal, RequestAuth};
use crate::error::request_error;
use crate::graphql::documents::DocumentCache;
use crate::graphql::persisted::PersistedDocuments;
use crate::schema::Schemas;
use crate::state::AppState;

/// What every handler needs: one `Arc`, so the clone axum makes for each request is a
/// reference count, not a copy of every schema and cache handle.
#[derive(Clone)]
pub struct HttpState(Arc<HttpShared>);

impl HttpState {
    /// Wraps the handlers' shared state.
    pub fn new(shared: HttpShared) -> Self {
        HttpState(Arc::new(shared))
    }
}

impl std::ops::Deref for HttpState {
    type Target = HttpShared;

    fn deref(&self) -> &HttpShared {
        &self.0
    }
}

/// The state behind [`HttpState`].
pub struct HttpShared {
    /// Application state.
    pub app: AppState,
    /// The GraphQL schemas.
    pub schemas: Schemas,
    /// Parsed documents by text.
    pub documents: Arc<DocumentCache>,
    /// Documents known by hash: persisted queries and the trusted list.
    pub persisted: Arc<PersistedDocuments>,
    /// Operation names given metrics labels so far.
    pub operation_labels: Arc<crate::telemetry::OperationLabels>,
}

/// A GraphQL-shaped error response with the given HTTP status.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [request_error(code, message)] });
    json_response(status, body.to_string())
}

/// A JSON body with the given status.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Resolves the `Authorization` header into the request's authentication.
pub async fn authenticate(state: &HttpState, headers: &HeaderMap) -> RequestAuth {
    crate::auth::authenticate_header(&state.app, headers.get(header::AUTHORIZATION)).await
}

/// The bearer's principal if it holds `cap`; else the 401 or 403 to send.
pub async fn bearer_with(
    state: &HttpState,
    headers: &HeaderMap,
    cap: Capability,
) -> Result<Principal, Response> {
    let principal = match authenticate(state, headers).await {
        RequestAuth::Authenticated(principal) => principal,
        RequestAuth::Invalid(reason) => {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                &reason,
            ));
        }
        RequestAuth::Anonymous => {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "send `Authorization: Bearer <access token>`",
            ));
        }
    };
    if !principal.can(cap) {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("the `{}` capability is needed", cap.slug()),
        ));
    }
    Ok(principal)
}

/// An embedded page with its CSP, or a 503 naming the assets the build lacked.
pub fn embedded_page(
    assets: &'static [(&'static str, &'static str, &'static [u8])],
    missing: &[&str],
    csp: &'static str,
    what: &str,
) -> Response {
    match assets.iter().find(|(name, _, _)| *name == "index.html") {
        Some((_, content_type, bytes)) if missing.is_empty() => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp)),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            bytes::Bytes::from_static(bytes),
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            format!(
                "{what} was built without its assets ({}).\nRun `npm ci --prefix web`, rebuild, and reload.\n",
                missing.join(", ")
            ),
        )
            .into_response(),
    }
}

/// One embedded asset by name (the page itself excluded), cached for an hour; its gzip twin
/// (`<name>.gz`, made at build time) when there is one and the request accepts gzip.
pub fn embedded_asset(
    assets: &'static [(&'static str, &'static str, &'static [u8])],
    file: &str,
    request: &HeaderMap,
) -> Response {
    let find = |wanted: &str| assets.iter().find(|(name, _, _)| *name == wanted);
    if file == "index.html" || file.ends_with(".gz") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some((_, content_type, bytes)) = find(file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let twin = find(&format!("{file}.gz"));
    let mut response = (
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
        bytes::Bytes::from_static(bytes),
    )
        .into_response();
    if let Some((_, _, gzipped)) = twin {
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if accepts_gzip(request) {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            *response.body_mut() = axum::body::Body::from(bytes::Bytes::from_static(gzipped));
        }
    }
    response
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*`, not with `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

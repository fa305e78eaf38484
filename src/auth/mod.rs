//! Identity and access.

pub mod principal;

use axum::http::HeaderValue;
use serde_json::{Map, Value as Json};

use crate::error::AppError;
use crate::graphql::context::RequestAuth;
use crate::graphql::ws::ConnectionAuth;
use crate::state::AppState;

/// Resolves an `Authorization` header: none is anonymous; anything else must verify.
pub async fn authenticate_header(_state: &AppState, header: Option<&HeaderValue>) -> RequestAuth {
    match header {
        None => RequestAuth::Anonymous,
        Some(_) => RequestAuth::Invalid("invalid or expired credentials".into()),
    }
}

/// The websocket `connection_init` hook: turns the payload into the socket's authentication.
pub async fn connection_init(
    _state: &AppState,
    payload: Option<Map<String, Json>>,
) -> Result<ConnectionAuth, AppError> {
    match payload.as_ref().and_then(|p| p.get("authorization")) {
        None => Ok(ConnectionAuth {
            auth: RequestAuth::Anonymous,
            expires_at: None,
        }),
        Some(_) => Err(AppError::Unauthenticated(
            "invalid or expired credentials".into(),
        )),
    }
}

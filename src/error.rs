//! The one error type of the API and its single conversion into GraphQL errors.
//!
//! Every variant maps to a stable `extensions.code`; internal causes are logged once, with the
//! request id, and never sent to the client.

use async_graphql::{ErrorExtensions, ServerError, Value};
use sea_orm::DbErr;

tokio::task_local! {
    /// Id of the HTTP request or websocket operation being served, for logs and client errors.
    pub static REQUEST_ID: String;
}

/// The current request id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Codes of request-level failures that come from the GraphQL engine or the transport, not a resolver.
pub mod codes {
    /// The document does not parse.
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document does not validate against the schema.
    pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// The document nests deeper than the limit.
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// The document is costlier than the limit.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// The HTTP request is malformed or unsafe (wrong content type, bad JSON, batch too large).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The body is larger than the limit.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// The answer is larger than the server sends (`HELDAR_MAX_RESPONSE_BYTES`).
    pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
    /// A mutation or subscription was sent over GET.
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
}

/// Everything that can go wrong in a resolver, by what the client should do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no credential, or one that is invalid, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// `FORBIDDEN`: the credential lacks the capability or the camera scope.
    #[error("{0}")]
    Forbidden(String),
    /// `BAD_USER_INPUT`: an argument is invalid; `field` names it (a path like `input.points[2].x`).
    #[error("{field}: {message}")]
    BadUserInput {
        /// Path of the offending argument.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `NOT_FOUND`: the addressed resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// `CONFLICT`: the change clashes with existing state (duplicate, held footage, last admin).
    #[error("{0}")]
    Conflict(String),
    /// `RATE_LIMITED`: too many attempts; retry after the given seconds.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// `UNAVAILABLE`: a dependency is busy or down (database busy, no media permit); retry shortly.
    #[error("{0}")]
    Unavailable(String),
    /// A domain code a client branches on (e.g. `NO_FOOTAGE`), with its message.
    #[error("{message}")]
    Domain {
        /// The `extensions.code`.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
    /// `INTERNAL_SERVER_ERROR`: a bug or an unexpected failure; the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// A `BAD_USER_INPUT` error naming `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An internal error from any cause.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(cause.into())
    }

    /// The stable `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable(_) => "UNAVAILABLE",
            AppError::Domain { code, .. } => code,
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// Whether a write failed on a foreign key (the row it points to was deleted meanwhile).
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
    )
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        use sea_orm::SqlErr;
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return AppError::Conflict("resource already exists".into());
        }
        let text = err.to_string();
        let busy = matches!(err, DbErr::ConnectionAcquire(_))
            || text.contains("database is locked")
            || text.contains("database is busy");
        if busy {
            tracing::warn!(request_id = %current_request_id(), error = %text, "database busy");
            return AppError::Unavailable("database busy; retry shortly".into());
        }
        AppError::internal(err)
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let code = err.code();
        let message = match &err {
            AppError::Internal(cause) => {
                let request_id = current_request_id();
                tracing::error!(%request_id, error = %cause, debug = ?cause, "internal error");
                format!("internal error (request id {request_id})")
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match &err {
                AppError::BadUserInput { field, .. } => ext.set("field", field.as_str()),
                AppError::RateLimited {
                    retry_after_secs, ..
                } => {
                    // `retryAfter` as clients expect it (seconds, like the HTTP header);
                    // `retryAfterSeconds` kept for clients of the first wave.
                    ext.set("retryAfter", *retry_after_secs);
                    ext.set("retryAfterSeconds", *retry_after_secs);
                }
                AppError::Internal(_) => ext.set("requestId", current_request_id()),
                _ => {}
            }
        })
    }
}

/// The `extensions.code` of a server error, if it has one.
pub fn error_code(err: &ServerError) -> Option<&str> {
    match err.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

/// Sets `extensions.code` on a server error.
pub fn set_code(err: &mut ServerError, code: &str) {
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// Gives every error of a response a code: resolver errors already carry one (they can only come
/// from [`AppError`]); what is left comes from the engine (argument coercion, unknown operation).
pub fn ensure_codes(errors: &mut [ServerError]) {
    for err in errors {
        if error_code(err).is_none() {
            let code = if err.path.is_empty() {
                validation_code(&err.message)
            } else {
                "BAD_USER_INPUT"
            };
            set_code(err, code);
        }
    }
}

/// The code of a document async-graphql's validation refused with `message`: its limits
/// have codes of their own, any other rule is `GRAPHQL_VALIDATION_FAILED`.
pub fn validation_code(message: &str) -> &'static str {
    match message {
        "Query is too complex." => codes::QUERY_TOO_COMPLEX,
        "Query is nested too deep." => codes::QUERY_TOO_DEEP,
        _ => codes::VALIDATION_FAILED,
    }
}

/// A request-level error (before execution) with a code, as the transport sends it.
pub fn request_error(code: &str, message: impl Into<String>) -> ServerError {
    let mut err = ServerError::new(message, None);
    set_code(&mut err, code);
    err
}

/// The error that replaces an answer over `HELDAR_MAX_RESPONSE_BYTES`, over HTTP and websockets.
pub fn response_too_large(size: usize, limit: u64) -> ServerError {
    request_error(
        codes::RESPONSE_TOO_LARGE,
        format!(
            "the answer would be {size} bytes, over this server's limit of {limit}; ask for fewer items (smaller pages, fewer cameras, a shorter window)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_codes_whichever_path_refused_them() {
        let mut errors = vec![
            ServerError::new("Query is too complex.", None),
            ServerError::new("Query is nested too deep.", None),
            ServerError::new("Unknown field \"x\" on type \"Query\".", None),
        ];
        ensure_codes(&mut errors);
        let codes: Vec<_> = errors.iter().map(error_code).collect();
        assert_eq!(
            codes,
            [
                Some(codes::QUERY_TOO_COMPLEX),
                Some(codes::QUERY_TOO_DEEP),
                Some(codes::VALIDATION_FAILED),
            ]
        );
    }

    #[test]
    fn an_internal_error_sends_only_a_request_id() {
        let err: async_graphql::Error =
            AppError::internal("secret detail: /var/lib/heldar.db").into();
        assert!(
            err.message.starts_with("internal error (request id"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("secret"));
        let ext = err.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("INTERNAL_SERVER_ERROR")));
    }

    #[test]
    fn a_bad_input_error_names_its_field() {
        let err: async_graphql::Error =
            AppError::bad_input("input.points[2].x", "must be within 0..1").into();
        assert_eq!(err.message, "input.points[2].x: must be within 0..1");
        let ext = err.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("BAD_USER_INPUT")));
        assert_eq!(ext.get("field"), Some(&Value::from("input.points[2].x")));
    }
}

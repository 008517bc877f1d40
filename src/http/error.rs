//! One error shape for the whole API: `{"error": {"code", "message", "fields"?}}`.
//!
//! Codes are stable strings (`agent.version_conflict`); clients match on them, never on messages.
//! Store errors map to codes in one place, here.

use crate::store::StoreError;
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;
use voxgate_core::FieldError;

/// An API error: status, stable code, message, and field problems when there are some.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldError>,
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub(super) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable code, e.g. `agent.version_conflict`.
    code: &'static str,
    /// What went wrong, for people.
    message: String,
    /// Each bad field, when the request was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    fields: Vec<FieldError>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 400 with each bad field listed.
    pub fn invalid(code: &'static str, message: &str, fields: Vec<FieldError>) -> Self {
        Self {
            fields,
            ..Self::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn not_found(code: &'static str, what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, format!("{what} not found"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = match &error {
            StoreError::NotFound => StatusCode::NOT_FOUND,
            StoreError::AgentExists(_)
            | StoreError::TenantExists(_)
            | StoreError::IdConflict
            | StoreError::VersionConflict { .. } => StatusCode::CONFLICT,
            StoreError::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Corrupt(_) | StoreError::Rejected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &error {
            // Driver messages can carry hostnames or query text; keep them in the log only.
            StoreError::Unavailable(_) | StoreError::Corrupt(_) | StoreError::Rejected(_) => {
                tracing::error!(code = error.code(), error = %error, "Store operation failed.");
                match error.is_retryable() {
                    true => "the store is unavailable; try again shortly".to_owned(),
                    false => {
                        "the store failed on this request; the error has been logged".to_owned()
                    }
                }
            }
            _ => error.to_string(),
        };
        Self::new(status, error.code(), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route.not_found", "no such route")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "this route does not accept that method",
    )
}

//! Request bodies: JSON that is parsed strictly, with errors in the API's own shape.
//!
//! Bodies arrive as bytes (the size limit applies first), then are parsed with the path of the
//! first bad field. Unknown fields are errors because every request type denies them.

use super::error::ApiError;
use axum::{
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{StatusCode, header::CONTENT_TYPE},
};
use serde::de::DeserializeOwned;
use voxgate_core::FieldError;

/// A JSON request body of type `T`.
pub(super) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request.unsupported_media_type",
                "send the body as `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::bad_request("request.unreadable_body", rejection.body_text())
    }
}

/// Parses JSON, reporting a syntax error as `request.invalid_json` and a shape error (missing,
/// unknown or mistyped field) as `request.invalid_fields` with the field's path.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer);
    if parsed.is_ok() {
        deserializer.end().map_err(|error| {
            ApiError::bad_request(
                "request.invalid_json",
                format!("the body is not valid JSON: {error}"),
            )
        })?;
    }
    parsed.map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(
                "request.invalid_json",
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let path = error.path().to_string();
        let field = if path == "." {
            "(body)".to_owned()
        } else {
            path
        };
        ApiError::invalid(
            "request.invalid_fields",
            "the body does not have the expected shape",
            vec![FieldError::new(field, inner.to_string())],
        )
    })
}

/// Query parameters of type `T`, with errors in the API's shape.
pub(super) struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| {
                ApiError::invalid(
                    "request.invalid_query",
                    "the query string is invalid",
                    vec![FieldError::new(
                        error.path().to_string(),
                        error.inner().to_string(),
                    )],
                )
            })
    }
}

/// A path parameter of type `T` (an id, a name), with errors in the API's shape.
pub(super) struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for PathParam<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|rejection| {
                ApiError::bad_request("request.invalid_path", rejection.body_text())
            })
    }
}

//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, and the request
//! metrics middleware.

use super::{AppState, auth::AdminAuth, error::ErrorBody};
use crate::telemetry;
use axum::{
    Extension, Json,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::{sync::Arc, time::Instant};
use utoipa::ToSchema;

/// Health or readiness, with each store's state.
#[derive(Serialize, ToSchema)]
pub(super) struct Health {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// Durable store backend and whether it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    durable: Option<StoreHealth>,
    /// Hot store backend and whether it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    hot: Option<StoreHealth>,
}

/// One store's readiness.
#[derive(Serialize, ToSchema)]
pub(super) struct StoreHealth {
    backend: &'static str,
    ok: bool,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        durable: None,
        hot: None,
    })
}

/// Both stores answer; 503 if either does not.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (durable, hot) = tokio::join!(state.durable.ping(), state.hot.ping());
    let ready = durable.is_ok() && hot.is_ok();
    let health = Health {
        status: if ready { "ok" } else { "unavailable" },
        durable: Some(StoreHealth {
            backend: state.durable.backend(),
            ok: durable.is_ok(),
        }),
        hot: Some(StoreHealth {
            backend: state.hot.backend(),
            ok: hot.is_ok(),
        }),
    };
    let status = match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(health))
}

/// Prometheus metrics (text format). Needs the admin key.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn metrics(State(state): State<AppState>, _admin: AdminAuth) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", security(()),
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub(super) async fn openapi_json(
    Extension(openapi): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi.as_ref().clone())
}

/// A bounded label for the method: hyper accepts any token as a method, and every distinct label
/// value would be a new time series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests and their latency by route template (never by raw path: no ids in labels).
pub(super) async fn track_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    telemetry::record_http_request(method, &route, response.status(), started.elapsed());
    response
}

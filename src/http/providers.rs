//! `GET /v1/providers`: each provider target's circuit breaker state and recent latency, as this
//! node sees it (breaker opens and closes are shared across nodes when Redis is configured).

use super::{AppState, auth::TenantAuth, error::ErrorBody};
use crate::health::BreakerStatus;
use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

/// Provider health.
#[derive(Serialize, ToSchema)]
pub(super) struct ProviderList {
    /// One entry per provider, stage, model, endpoint and key this node has used.
    providers: Vec<BreakerStatus>,
}

/// Provider health: breaker state, window counts and latency per target.
#[utoipa::path(get, path = "/v1/providers", tag = "providers",
    responses((status = 200, body = ProviderList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_providers(
    State(state): State<AppState>,
    _auth: TenantAuth,
) -> Json<ProviderList> {
    Json(ProviderList {
        providers: state.calls.health.snapshot(),
    })
}

//! The HTTP API (axum): routing, shared state, and the generated OpenAPI document.
//!
//! Every `/v1` route authenticates with `Authorization: Bearer <key>` (see `http/auth.rs`), except
//! the ones a call or a demo link authenticates itself; `/healthz`, `/readyz`, `/openapi.json`,
//! `/widget.js` and `/demo` are public, `/metrics` takes the admin key. Handlers
//! are thin: parse and check the request, call a store, map the result. Errors leave as one JSON
//! shape with a stable code (`http/error.rs`).

mod activity;
mod agents;
mod auth;
mod body;
mod call_tokens;
mod demo_links;
mod error;
mod ops;
mod providers;
pub mod telephony;
mod tenants;
mod widget;

use crate::{
    secret::Secret,
    store::{Durable, Hot},
};
use axum::{Router, extract::DefaultBodyLimit, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use auth::BearerScheme;
pub use error::ApiError;

/// What a call needs from the server.
#[derive(Clone, Debug)]
pub struct CallServices {
    /// The configured providers (OpenAI, compatible services, or the simulator).
    pub providers: crate::provider::directory::ProviderDirectory,
    /// Provider health: breakers and retry budgets shared by every call.
    pub health: Arc<crate::health::HealthRegistry>,
    /// Pipeline stage deadlines.
    pub stage_timeouts: crate::provider::pipeline::StageTimeouts,
    /// Signs and checks call tokens.
    pub token_key: Secret,
    /// This node's name in the live call registry.
    pub node: String,
    /// Public base URL, for carrier stream URLs and webhook signatures.
    pub public_url: Option<String>,
    /// Twilio auth token; the Twilio webhook is refused without it.
    pub twilio_auth_token: Option<Secret>,
    /// Tenant that carrier calls belong to unless the webhook names one.
    pub default_tenant: String,
    /// Provider sessions are renewed (and re-seeded) after this long, before the provider's cap.
    pub provider_session_max: std::time::Duration,
    /// WebRTC: the UDP endpoint and this node's live WebRTC calls.
    pub webrtc: crate::transport::webrtc::WebRtc,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The durable store.
    pub durable: Arc<dyn Durable>,
    /// The hot state store.
    pub hot: Arc<dyn Hot>,
    /// The admin key, if configured.
    pub admin_key: Option<Secret>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// What calls need: the realtime provider, the call token key, this node's name.
    pub calls: Arc<CallServices>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "voxgate",
        description = "Realtime voice agent server: agents, calls, incidents, usage."
    ),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags(
        (name = "tenants", description = "Tenants and API keys (admin key)"),
        (name = "agents", description = "Versioned agent specs"),
        (name = "calls", description = "Call records and transcripts"),
        (name = "incidents", description = "Failure incidents and their frequency"),
        (name = "usage", description = "Provider usage and cost"),
        (name = "telephony", description = "Carrier webhooks and media streams"),
        (name = "widget", description = "The browser widget, demo links and the demo page"),
        (name = "ops", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

/// The full router and the OpenAPI document describing it.
pub fn router_with_openapi(
    state: AppState,
    body_limit: usize,
) -> (Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::create_api_key))
        .routes(routes!(tenants::revoke_api_key))
        .routes(routes!(agents::create_agent, agents::list_agents))
        .routes(routes!(
            agents::get_agent,
            agents::update_agent,
            agents::delete_agent
        ))
        .routes(routes!(call_tokens::create_call_token))
        .routes(routes!(crate::transport::ws::connect_call))
        .routes(routes!(demo_links::create_demo_link))
        .routes(routes!(demo_links::demo_call_token))
        .routes(routes!(widget::widget_js))
        .routes(routes!(widget::demo_page))
        .routes(routes!(crate::transport::webrtc::signal::offer_call))
        .routes(routes!(crate::transport::webrtc::signal::end_call))
        .routes(routes!(telephony::twilio_voice))
        .routes(routes!(crate::transport::media_stream::twilio_stream))
        .routes(routes!(crate::transport::media_stream::telnyx_stream))
        .routes(routes!(activity::list_calls))
        .routes(routes!(activity::get_call))
        .routes(routes!(activity::list_incidents))
        .routes(routes!(activity::incident_summary))
        .routes(routes!(activity::usage))
        .routes(routes!(providers::list_providers))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .split_for_parts();
    let router = router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(ops::track_request))
        .layer(axum::Extension(Arc::new(openapi.clone())))
        .with_state(state);
    (router, openapi)
}

/// The router, for serving.
pub fn router(state: AppState, body_limit: usize) -> Router {
    router_with_openapi(state, body_limit).0
}

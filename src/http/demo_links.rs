//! Demo links over HTTP: `POST /v1/demo-links` (a tenant key mints a signed, expiring link to one
//! agent) and `POST /v1/demo-links/call-token?link=…` (public: whoever holds a valid link gets a
//! short-lived single-use WebRTC call token for its agent, a few a minute).
//!
//! The link format, its signature and its rate limit live in `src/demo_link.rs`; the page that
//! uses the link is `http/widget.rs`. Link tokens are never logged.

use super::{
    AppState,
    auth::TenantAuth,
    body::{JsonBody, QueryParams},
    call_tokens::{CallToken, issue},
    error::{ApiError, ErrorBody},
};
use crate::{
    call_token::Audience,
    demo_link::{self, LinkError},
    store::StoreError,
};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use voxgate_core::FieldError;

const DEFAULT_TTL_SECONDS: u64 = 900;
const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Call tokens from a demo link are for one WebRTC call placed right away.
const CALL_TOKEN_TTL: Duration = Duration::from_secs(60);

/// Body of `POST /v1/demo-links`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDemoLink {
    /// The agent the link calls.
    agent: String,
    /// Lifetime, 60 s to 7 days (default 900).
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// A demo link: open `url` on this server in a browser.
#[derive(Serialize, ToSchema)]
pub(super) struct DemoLinkCreated {
    /// Path of the demo page, with the signed link: `/demo?link=vdl_…`.
    url: String,
    /// The agent it calls.
    agent: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Query of `POST /v1/demo-links/call-token`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LinkQuery {
    /// The demo link token (`vdl_…`).
    link: String,
}

async fn require_agent(state: &AppState, tenant_id: Uuid, agent: &str) -> Result<(), ApiError> {
    state
        .durable
        .get_agent(tenant_id, agent)
        .await
        .map(drop)
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::not_found("agent.not_found", "agent"),
            other => other.into(),
        })
}

/// Mints a demo link to one agent of the caller's tenant. Anyone who has the link can call the
/// agent from a browser until it expires; keep it private.
#[utoipa::path(post, path = "/v1/demo-links", tag = "widget", request_body = NewDemoLink,
    responses((status = 201, body = DemoLinkCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(super) async fn create_demo_link(
    State(state): State<AppState>,
    auth: TenantAuth,
    JsonBody(body): JsonBody<NewDemoLink>,
) -> Result<(StatusCode, Json<DemoLinkCreated>), ApiError> {
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(60..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(
            "demo_link.invalid",
            "the demo link request is invalid",
            vec![FieldError::new(
                "ttl_seconds",
                "must be between 60 and 604800",
            )],
        ));
    }
    require_agent(&state, auth.tenant_id, &body.agent).await?;
    let now = OffsetDateTime::now_utc();
    let ttl = Duration::from_secs(ttl);
    let (token, _) = demo_link::mint(
        &state.calls.token_key,
        auth.tenant_id,
        &body.agent,
        now,
        ttl,
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("link", &token)
        .finish();
    Ok((
        StatusCode::CREATED,
        Json(DemoLinkCreated {
            url: format!("/demo?{query}"),
            agent: body.agent,
            expires_at: now + ttl,
        }),
    ))
}

/// The widget's token URL on the demo page: a single-use WebRTC call token (60 s) for the link's
/// agent. Public, but only with a valid, unexpired link, and at most 10 a minute per link. The
/// request body, if any, is ignored: the link names the agent.
#[utoipa::path(post, path = "/v1/demo-links/call-token", tag = "widget", security(()),
    params(LinkQuery),
    responses((status = 201, body = CallToken),
              (status = 401, description = "Invalid or expired link", body = ErrorBody),
              (status = 404, description = "The agent no longer exists", body = ErrorBody),
              (status = 429, description = "Too many tokens from this link; see Retry-After",
               body = ErrorBody)))]
pub(super) async fn demo_call_token(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<LinkQuery>,
) -> Result<(StatusCode, Json<CallToken>), Response> {
    let now = OffsetDateTime::now_utc();
    let link = demo_link::admit(&state.calls.token_key, state.hot.as_ref(), &query.link, now)
        .await
        .map_err(refusal)?;
    require_agent(&state, link.tenant_id, &link.agent)
        .await
        .map_err(IntoResponse::into_response)?;
    let token = issue(
        &state,
        link.tenant_id,
        link.agent,
        Audience::Webrtc,
        CALL_TOKEN_TTL,
    );
    Ok((StatusCode::CREATED, Json(token)))
}

fn refusal(error: LinkError) -> Response {
    let (status, code) = match error {
        LinkError::Invalid => (StatusCode::UNAUTHORIZED, "auth.invalid_demo_link"),
        LinkError::Expired => (StatusCode::UNAUTHORIZED, "auth.demo_link_expired"),
        LinkError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "demo_link.rate_limited"),
        LinkError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "store.unavailable"),
    };
    let body = ApiError::new(status, code, error.to_string());
    match error {
        LinkError::RateLimited => ([(header::RETRY_AFTER, "60")], body).into_response(),
        _ => body.into_response(),
    }
}

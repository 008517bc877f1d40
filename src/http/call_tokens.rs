//! `POST /v1/call-tokens`: a backend with an API key mints a short-lived, single-use token that
//! lets one client open one call to one agent (see `src/call_token.rs`).

use super::{
    AppState,
    auth::TenantAuth,
    body::JsonBody,
    error::{ApiError, ErrorBody},
};
use crate::{
    call_token::{self, Audience, TokenScope},
    store::StoreError,
};
use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use voxgate_core::FieldError;

const DEFAULT_TTL_SECONDS: u64 = 60;
const MAX_TTL_SECONDS: u64 = 600;

/// Body of `POST /v1/call-tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCallToken {
    /// The agent the token may call.
    agent: String,
    /// Lifetime, 1-600 seconds (default 60).
    #[serde(default)]
    ttl_seconds: Option<u64>,
    /// Where it will be used: `ws` (default), `webrtc` (the browser widget) or `telnyx`. Twilio
    /// tokens come only from the signed voice webhook.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    transport: Option<TokenTransport>,
}

/// Endpoints this API mints tokens for.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum TokenTransport {
    /// The native WebSocket.
    Ws,
    /// Telnyx media streaming.
    Telnyx,
    /// A browser over WebRTC (the widget).
    Webrtc,
}

/// A call token, to hand to the calling client.
#[derive(Serialize, ToSchema)]
pub(super) struct CallToken {
    /// Present it as `token` when connecting; it works once.
    token: String,
    /// The agent it calls.
    agent: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Mints a single-use call token for one agent of the caller's tenant.
#[utoipa::path(post, path = "/v1/call-tokens", tag = "calls", request_body = NewCallToken,
    responses((status = 201, body = CallToken), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(super) async fn create_call_token(
    State(state): State<AppState>,
    auth: TenantAuth,
    JsonBody(body): JsonBody<NewCallToken>,
) -> Result<(StatusCode, Json<CallToken>), ApiError> {
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(
            "call_token.invalid",
            "the call token request is invalid",
            vec![FieldError::new("ttl_seconds", "must be between 1 and 600")],
        ));
    }
    state
        .durable
        .get_agent(auth.tenant_id, &body.agent)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::not_found("agent.not_found", "agent"),
            other => other.into(),
        })?;
    let audience = match body.transport {
        None | Some(TokenTransport::Ws) => Audience::Ws,
        Some(TokenTransport::Telnyx) => Audience::Telnyx,
        Some(TokenTransport::Webrtc) => Audience::Webrtc,
    };
    let token = issue(
        &state,
        auth.tenant_id,
        body.agent,
        audience,
        Duration::from_secs(ttl),
    );
    Ok((StatusCode::CREATED, Json(token)))
}

/// Mints a call token for `agent` of `tenant_id` (whose existence the caller has checked).
pub(super) fn issue(
    state: &AppState,
    tenant_id: Uuid,
    agent: String,
    audience: Audience,
    ttl: Duration,
) -> CallToken {
    let now = OffsetDateTime::now_utc();
    let scope = TokenScope {
        tenant_id,
        agent: &agent,
        audience,
        caller: None,
    };
    let token = call_token::mint(&state.calls.token_key, scope, now, ttl);
    CallToken {
        token,
        agent,
        expires_at: now + ttl,
    }
}

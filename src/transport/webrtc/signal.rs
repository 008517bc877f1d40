//! WHIP-style signalling: `POST /v1/calls/webrtc` (offer in, answer out, call started) and
//! `DELETE /v1/calls/webrtc/{call_id}` (end it).
//!
//! The order of checks spends nothing on a bad request: the call token is verified (not yet
//! spent), the body and the SDP are checked, the tenant's slot is reserved and the offer is
//! negotiated; only then is the token redeemed and the call started. A refused request creates
//! no call record and leaves the token usable.

use super::{
    WebRtc,
    endpoint::{Control, EndpointHandle},
    peer::{NewPeer, SESSION_FORMAT},
    registry::{self, Lookup},
    sdp::{self, MAX_SDP_BYTES, OfferProblem},
};
use crate::{
    call_token::{self, Audience, TokenError},
    http::{ApiError, AppState},
    transport::{start_call, ws::message::ServerMessage},
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use std::time::Instant;
use str0m::{Candidate, RtcConfig, change::SdpOffer};
use time::OffsetDateTime;
use uuid::Uuid;

/// Response header holding the secret that ends the call.
pub const CALL_SECRET_HEADER: &str = "x-voxgate-call-secret";

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn bad_sdp(problem: &OfferProblem) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, problem.code(), problem.to_string())
}

/// The body, refused past [`MAX_SDP_BYTES`] without reading the rest.
async fn read_offer(body: Body) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "request.unreadable_body",
                error.to_string(),
            )
        })?;
        if bytes.len() + chunk.len() > MAX_SDP_BYTES {
            return Err(bad_sdp(&OfferProblem::TooLarge));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Opens a WebRTC call: the body is the SDP offer, the answer comes back. The offer needs an
/// audio section (Opus preferred; PCMU or PCMA accepted) and should create a data channel
/// labelled `events`, which carries the same JSON events as the native WebSocket.
#[utoipa::path(post, path = "/v1/calls/webrtc", tag = "calls", security(()),
    request_body(content = String, content_type = "application/sdp",
                 description = "SDP offer, at most 64 KiB"),
    params(("Authorization" = String, Header,
            description = "`Bearer <call token>` from POST /v1/call-tokens with \"transport\": \"webrtc\"")),
    responses(
        (status = 201, description = "SDP answer; the call has started", content_type = "application/sdp",
         body = String, headers(
            ("Location" = String, description = "/v1/calls/webrtc/{call_id}"),
            ("X-Voxgate-Call-Secret" = String, description = "Bearer secret for DELETE on Location"))),
        (status = 400, description = "webrtc.bad_sdp, webrtc.no_audio or webrtc.no_common_codec"),
        (status = 401, description = "Missing, invalid, expired or spent call token"),
        (status = 415, description = "The body is not application/sdp"),
        (status = 429, description = "webrtc.too_many_calls: the tenant's WebRTC calls are at the cap"),
        (status = 503, description = "webrtc.unavailable: the UDP endpoint is not running")))]
pub async fn offer_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/sdp"));
    if !is_sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "send the SDP offer as `Content-Type: application/sdp`",
        ));
    }
    let token = bearer(&headers).ok_or_else(|| {
        unauthorized(
            "auth.invalid_call_token",
            "send the call token as `Authorization: Bearer <token>`",
        )
    })?;
    let now = OffsetDateTime::now_utc();
    let key = &state.calls.token_key;
    let grant = call_token::verify(key, token, now)
        .and_then(|grant| match grant.audience {
            Audience::Webrtc => Ok(grant),
            _ => Err(TokenError::WrongAudience),
        })
        .map_err(|error| unauthorized("auth.invalid_call_token", error.to_string()))?;
    let offer = sdp::check_offer(&read_offer(body).await?).map_err(|p| bad_sdp(&p))?;
    let webrtc = &state.calls.webrtc;
    let cap = webrtc.settings().max_calls_per_tenant;
    let slot = webrtc
        .registry()
        .reserve(grant.tenant_id, cap)
        .map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "webrtc.too_many_calls",
                format!("this tenant already has {cap} WebRTC calls on this server; end one first"),
            )
        })?;
    let (mut rtc, answer) = negotiate(webrtc, offer.sdp).await?;
    let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
    let grant = call_token::redeem(key, state.hot.as_ref(), token, Audience::Webrtc, now)
        .await
        .map_err(|error| match error {
            TokenError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store.unavailable",
                error.to_string(),
            ),
            other => unauthorized("auth.invalid_call_token", other.to_string()),
        })?;
    let agent = state
        .durable
        .get_agent(grant.tenant_id, &grant.agent)
        .await?
        .spec;
    let call = start_call(&state, &grant, &agent, SESSION_FORMAT, "webrtc", None).await;
    let call_id = call.call_id;
    let secret = registry::new_secret();
    slot.bind(call_id, &secret);
    let new_peer = NewPeer {
        call_id,
        rtc,
        ufrag,
        events: call.events.clone(),
        started: ServerMessage::Started {
            call_id: call_id.to_string(),
            agent: agent.name.clone(),
            sample_rate: answer.1,
        },
        mode: call.mode,
        data_channel: offer.data_channel,
    };
    let endpoint = webrtc.endpoint().await.map_err(unavailable)?.clone();
    if endpoint
        .send(Control::Add(Box::new(new_peer)))
        .await
        .is_err()
    {
        webrtc.registry().remove(call_id);
        let _ = call
            .events
            .send(voxgate_core::session::ClientEvent::Hangup)
            .await;
        return Err(unavailable("the WebRTC endpoint has stopped"));
    }
    tokio::spawn(forward(call_id, call.commands, call.driver, endpoint));
    let location = format!("/v1/calls/webrtc/{call_id}");
    let mut response = (StatusCode::CREATED, answer.0).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    for (name, value) in [
        (header::LOCATION.as_str(), location),
        (CALL_SECRET_HEADER, secret),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "WebRTC endpoint unavailable.");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webrtc.unavailable",
        "WebRTC is not available on this server now",
    )
}

/// A new `Rtc` for the offer: ICE-lite with one host candidate, Opus/PCMU/PCMA, and the answer
/// with the sample rate of its preferred codec.
async fn negotiate(
    webrtc: &WebRtc,
    offer: SdpOffer,
) -> Result<(str0m::Rtc, (String, u32)), ApiError> {
    let endpoint = webrtc.endpoint().await.map_err(unavailable)?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(super::crypto::provider())
        .set_dtls_cert(endpoint.cert.clone())
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
        .build(Instant::now());
    let candidate = Candidate::host(endpoint.advertised, "udp").map_err(unavailable)?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|error| bad_sdp(&OfferProblem::Malformed(error.to_string())))?
        .to_sdp_string();
    let codec = sdp::answer_codecs(&answer)
        .first()
        .copied()
        .ok_or_else(|| bad_sdp(&OfferProblem::NoCommonCodec))?;
    Ok((rtc, (answer, codec.clock_hz() as u32)))
}

/// Carries the session's commands to the endpoint until the driver finishes.
async fn forward(
    call_id: Uuid,
    mut commands: tokio::sync::mpsc::Receiver<voxgate_core::session::ClientCommand>,
    driver: tokio::task::JoinHandle<()>,
    endpoint: EndpointHandle,
) {
    while let Some(command) = commands.recv().await {
        if endpoint
            .send(Control::Command(call_id, command))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = endpoint.send(Control::DriverDone(call_id)).await;
    let _ = driver.await;
    tracing::info!(%call_id, "Call finished.");
}

/// Ends a WebRTC call. Authenticate with the call secret from the `X-Voxgate-Call-Secret` header
/// of the `201` that started it.
#[utoipa::path(delete, path = "/v1/calls/webrtc/{call_id}", tag = "calls", security(()),
    params(("call_id" = Uuid, Path, description = "From the Location header"),
           ("Authorization" = String, Header, description = "`Bearer <call secret>`")),
    responses((status = 204, description = "The call is ending"),
              (status = 401, description = "Not this call's secret"),
              (status = 404, description = "No such live WebRTC call on this server")))]
pub async fn end_call(
    State(state): State<AppState>,
    Path(call_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let secret = bearer(&headers).unwrap_or_default();
    let webrtc = &state.calls.webrtc;
    match webrtc.registry().lookup(call_id, secret) {
        Lookup::Granted => {}
        Lookup::WrongSecret => {
            return Err(unauthorized(
                "auth.invalid_call_secret",
                "send the call secret from X-Voxgate-Call-Secret as `Authorization: Bearer <secret>`",
            ));
        }
        Lookup::Unknown => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "call.not_found",
                "no such live WebRTC call",
            ));
        }
    }
    let endpoint = webrtc.endpoint().await.map_err(unavailable)?;
    endpoint
        .send(Control::End(call_id))
        .await
        .map_err(|_| unavailable("the WebRTC endpoint has stopped"))?;
    Ok(StatusCode::NO_CONTENT)
}

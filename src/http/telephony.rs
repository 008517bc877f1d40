//! Carrier voice webhooks: `POST /v1/telephony/twilio/voice` answers an incoming Twilio call with
//! TwiML that connects it to our media stream, carrying a fresh call token.
//!
//! The webhook is authenticated by Twilio's `X-Twilio-Signature` (HMAC-SHA1 over the URL and the
//! sorted form parameters, keyed by the account's auth token), checked in constant time. Without a
//! configured auth token the webhook is refused: an unauthenticated endpoint could mint tokens.

use super::{AppState, body::QueryParams, error::ApiError};
use crate::{
    call_token::{self, Audience, TokenScope},
    store::StoreError,
};
use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha1::Sha1;
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::IntoParams;
use uuid::Uuid;

const TOKEN_TTL: Duration = Duration::from_secs(60);

/// Which agent (and tenant) the number's webhook URL points at.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct VoiceQuery {
    /// The agent to answer with.
    agent: String,
    /// The tenant (default: the server's default tenant).
    tenant_id: Option<Uuid>,
}

/// Twilio's signature of a webhook: base64 HMAC-SHA1 of the URL followed by every form
/// parameter's name and value, sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Answers a Twilio call with `<Connect><Stream>` to this server.
#[utoipa::path(post, path = "/v1/telephony/twilio/voice", tag = "telephony", security(()),
    params(VoiceQuery),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "Twilio's call parameters (From, To, CallSid, ...)"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"),
              (status = 403, description = "Missing or wrong X-Twilio-Signature"),
              (status = 503, description = "No Twilio auth token configured")))]
pub(super) async fn twilio_voice(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    QueryParams(query): QueryParams<VoiceQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = state.calls.twilio_auth_token.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony.not_configured",
            "set VOXGATE_TWILIO_AUTH_TOKEN to accept Twilio calls",
        )
    })?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.invalid_form",
            e.to_string(),
        )
    })?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = state
        .calls
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let base = base.trim_end_matches('/');
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    let expected = twilio_signature(token.expose(), &format!("{base}{path}"), &params);
    let presented = headers
        .get("x-twilio-signature")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        presented.as_bytes(),
    )) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "telephony.bad_signature",
            "X-Twilio-Signature does not match",
        ));
    }
    let tenant = match query.tenant_id {
        Some(id) => state.durable.get_tenant(id).await?,
        None => {
            state
                .durable
                .ensure_tenant(&state.calls.default_tenant)
                .await?
        }
    };
    state
        .durable
        .get_agent(tenant.id, &query.agent)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::not_found("agent.not_found", "agent"),
            other => other.into(),
        })?;
    // The caller's number travels inside the signed token, not as a stream parameter.
    let caller = params
        .iter()
        .find(|(name, _)| name == "From")
        .map(|(_, value)| value.clone());
    let scope = TokenScope {
        tenant_id: tenant.id,
        agent: &query.agent,
        audience: Audience::Twilio,
        caller,
    };
    let now = OffsetDateTime::now_utc();
    let call_token = call_token::mint(&state.calls.token_key, scope, now, TOKEN_TTL);
    let stream_url = format!(
        "{}/v1/telephony/twilio/stream",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\"{}\">\
         <Parameter name=\"token\" value=\"{}\"/></Stream></Connect></Response>",
        xml_escape(&stream_url),
        xml_escape(&call_token)
    );
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_twilios_documented_example() {
        // The example of Twilio's signature validation snippets (TwilioDevEd/api-snippets).
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let signature = twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(signature, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    }

    #[test]
    fn twiml_values_are_escaped() {
        assert_eq!(xml_escape("a&b<\"c\">"), "a&amp;b&lt;&quot;c&quot;&gt;");
    }
}

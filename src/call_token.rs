//! Call tokens: short-lived, single-use credentials that let a caller's client (a browser, an
//! app) open one call to one agent without ever holding an API key.
//!
//! A backend with an API key mints one (`POST /v1/call-tokens`); the client presents it when it
//! connects. The token is `vct_<payload>.<mac>`: base64url JSON {tenant, agent, expiry, nonce} and
//! an HMAC-SHA256 over it with the deployment's token key. Single use is enforced in the hot store
//! (a counter per nonce that lives as long as the token), so it holds across nodes with Redis.
//!
//! The signing primitives (`seal`, `open`, `derive_key`) also sign demo links (`demo_link.rs`);
//! no other module does its own cryptography.

use crate::{
    secret::Secret,
    store::{Hot, StoreError},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const PREFIX: &str = "vct_";

/// Which endpoint a token is for: a token minted for one transport is refused by the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The native WebSocket, `/v1/calls/ws`.
    Ws,
    /// Twilio's media stream (minted by the signed voice webhook).
    Twilio,
    /// Telnyx's media stream.
    Telnyx,
    /// A browser or other WebRTC peer, `POST /v1/calls/webrtc` (the widget too).
    Webrtc,
    /// A SIP trunk call: grants made inside voxgate once the INVITE is routed; no token is
    /// ever minted for it.
    Sip,
}

/// What a call token grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallGrant {
    /// The tenant.
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    /// The one agent it may call.
    #[serde(rename = "a")]
    pub agent: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// Unique per token; spent on first use.
    #[serde(rename = "n")]
    pub nonce: Uuid,
    /// The endpoint it is for.
    #[serde(rename = "u")]
    pub audience: Audience,
    /// The caller's number, when a carrier webhook vouched for it (personal data).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
}

/// What a new token is for.
#[derive(Clone, Debug)]
pub struct TokenScope<'a> {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The agent.
    pub agent: &'a str,
    /// The endpoint.
    pub audience: Audience,
    /// The caller's number, if known from a verified source.
    pub caller: Option<String>,
}

/// Why a token was refused. All map to one 401 for the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, or its MAC does not match.
    #[error("the call token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the call token has expired")]
    Expired,
    /// Already used once.
    #[error("the call token was already used")]
    Spent,
    /// Minted for another endpoint.
    #[error("the call token is not for this endpoint")]
    WrongAudience,
    /// The hot store could not check single use.
    #[error("cannot check the call token now")]
    Unavailable,
}

fn mac(key: &Secret, payload: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac
}

/// A key for another kind of signed token, derived from the token key, so that a token of one
/// kind can never pass for a token of another (domain separation).
pub(crate) fn derive_key(key: &Secret, purpose: &str) -> Secret {
    Secret::new(hex::encode(mac(key, purpose).finalize().into_bytes()))
}

/// Signs `claims` as `<prefix><base64url JSON>.<base64url HMAC-SHA256>`.
pub(crate) fn seal<T: Serialize>(key: &Secret, prefix: &str, claims: &T) -> String {
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let tag = B64.encode(mac(key, &payload).finalize().into_bytes());
    format!("{prefix}{payload}.{tag}")
}

/// Checks the prefix and MAC of a sealed token and decodes its claims (expiry is the caller's).
pub(crate) fn open<T: DeserializeOwned>(
    key: &Secret,
    prefix: &str,
    token: &str,
) -> Result<T, TokenError> {
    let body = token.strip_prefix(prefix).ok_or(TokenError::Invalid)?;
    let (payload, tag) = body.split_once('.').ok_or(TokenError::Invalid)?;
    let tag = B64.decode(tag).map_err(|_| TokenError::Invalid)?;
    mac(key, payload)
        .verify_slice(&tag)
        .map_err(|_| TokenError::Invalid)?;
    let json = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)
}

/// Mints a token for `scope`, valid for `ttl` from `now`.
pub fn mint(key: &Secret, scope: TokenScope<'_>, now: OffsetDateTime, ttl: Duration) -> String {
    let grant = CallGrant {
        tenant_id: scope.tenant_id,
        agent: scope.agent.to_owned(),
        expires_at: now.unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        nonce: Uuid::new_v4(),
        audience: scope.audience,
        caller: scope.caller,
    };
    seal(key, PREFIX, &grant)
}

/// Checks MAC and expiry (no side effects).
pub fn verify(key: &Secret, token: &str, now: OffsetDateTime) -> Result<CallGrant, TokenError> {
    let grant: CallGrant = open(key, PREFIX, token)?;
    if grant.expires_at <= now.unix_timestamp() {
        return Err(TokenError::Expired);
    }
    Ok(grant)
}

/// Verifies and spends a token for `audience`: the first redemption wins, and every later one,
/// or one at another endpoint, is refused.
pub async fn redeem(
    key: &Secret,
    hot: &dyn Hot,
    token: &str,
    audience: Audience,
    now: OffsetDateTime,
) -> Result<CallGrant, TokenError> {
    let grant = verify(key, token, now)?;
    if grant.audience != audience {
        return Err(TokenError::WrongAudience);
    }
    let left = u64::try_from(grant.expires_at - now.unix_timestamp()).unwrap_or(1);
    let uses = hot
        .incr_counter(
            &format!("call_token:{}", grant.nonce),
            1,
            Duration::from_secs(left + 60),
        )
        .await
        .map_err(|error: StoreError| {
            tracing::error!(%error, "Cannot check call token use.");
            TokenError::Unavailable
        })?;
    match uses {
        1 => Ok(grant),
        _ => Err(TokenError::Spent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryHot;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00 UTC);

    fn key() -> Secret {
        Secret::new("k".repeat(32))
    }

    fn scope(tenant_id: Uuid) -> TokenScope<'static> {
        TokenScope {
            tenant_id,
            agent: "desk",
            audience: Audience::Ws,
            caller: None,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let tenant = Uuid::new_v4();
        let token = mint(&key(), scope(tenant), NOW, Duration::from_secs(60));
        let grant = verify(&key(), &token, NOW).expect("valid");
        assert_eq!((grant.tenant_id, grant.agent.as_str()), (tenant, "desk"));
        let later = NOW + time::Duration::seconds(60);
        assert_eq!(verify(&key(), &token, later), Err(TokenError::Expired));
    }

    #[test]
    fn a_changed_or_foreign_token_is_invalid() {
        let token = mint(&key(), scope(Uuid::new_v4()), NOW, Duration::from_secs(60));
        let other_key = Secret::new("x".repeat(32));
        assert_eq!(verify(&other_key, &token, NOW), Err(TokenError::Invalid));
        let forged = token.replacen("vct_e", "vct_f", 1);
        assert_eq!(verify(&key(), &forged, NOW), Err(TokenError::Invalid));
        for junk in ["", "vct_", "vct_a.b", "sk-123"] {
            assert_eq!(verify(&key(), junk, NOW), Err(TokenError::Invalid));
        }
    }

    #[tokio::test]
    async fn a_token_can_be_redeemed_once() {
        let hot = MemoryHot::new();
        let token = mint(&key(), scope(Uuid::new_v4()), NOW, Duration::from_secs(60));
        assert_eq!(
            redeem(&key(), &hot, &token, Audience::Twilio, NOW).await,
            Err(TokenError::WrongAudience)
        );
        assert!(
            redeem(&key(), &hot, &token, Audience::Ws, NOW)
                .await
                .is_ok()
        );
        assert_eq!(
            redeem(&key(), &hot, &token, Audience::Ws, NOW).await,
            Err(TokenError::Spent)
        );
    }
}

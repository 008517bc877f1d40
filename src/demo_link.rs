//! Demo links: signed, expiring URLs that let an operator try one agent in a browser without
//! putting an API key in the page.
//!
//! A tenant key mints a link (`POST /v1/demo-links`); the link is `vdl_<payload>.<mac>`, sealed
//! with the call token primitives (`call_token::seal`) under a key derived from the deployment's
//! token key for this purpose only, so a demo link never passes for a call token or the reverse.
//! It binds {tenant, agent, expiry, link id}. Whoever holds the link may mint call tokens for that
//! agent until it expires, at most [`TOKENS_PER_MINUTE`] a minute (a hot-store counter per link id,
//! so the limit holds across nodes with Redis). This module owns the link format and the limit;
//! it does not touch HTTP.

use crate::{
    call_token::{self, TokenError},
    secret::Secret,
    store::Hot,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const PREFIX: &str = "vdl_";
const PURPOSE: &str = "voxgate demo link v1";
/// Call tokens one link may mint per minute.
pub const TOKENS_PER_MINUTE: i64 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// What a demo link grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoLink {
    /// The tenant.
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    /// The one agent it may call.
    #[serde(rename = "a")]
    pub agent: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The link's id: its rate limit is counted under it.
    #[serde(rename = "l")]
    pub link_id: Uuid,
}

/// Why a link may not mint a call token now.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link, or its MAC does not match.
    #[error("the demo link is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the demo link has expired; ask for a new one")]
    Expired,
    /// Too many call tokens from this link in the last minute.
    #[error("too many calls from this demo link; try again in a minute")]
    RateLimited,
    /// The hot store could not count.
    #[error("cannot check the demo link now")]
    Unavailable,
}

fn link_key(token_key: &Secret) -> Secret {
    call_token::derive_key(token_key, PURPOSE)
}

/// Mints a link to `agent` of `tenant_id`, valid for `ttl` from `now`.
pub fn mint(
    token_key: &Secret,
    tenant_id: Uuid,
    agent: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> (String, DemoLink) {
    let link = DemoLink {
        tenant_id,
        agent: agent.to_owned(),
        expires_at: now.unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        link_id: Uuid::new_v4(),
    };
    (call_token::seal(&link_key(token_key), PREFIX, &link), link)
}

/// Checks MAC and expiry (no side effects).
pub fn verify(token_key: &Secret, token: &str, now: OffsetDateTime) -> Result<DemoLink, LinkError> {
    let link: DemoLink =
        call_token::open(&link_key(token_key), PREFIX, token).map_err(|error| match error {
            TokenError::Expired => LinkError::Expired,
            _ => LinkError::Invalid,
        })?;
    if link.expires_at <= now.unix_timestamp() {
        return Err(LinkError::Expired);
    }
    Ok(link)
}

/// Verifies a link and counts one call token against its limit.
pub async fn admit(
    token_key: &Secret,
    hot: &dyn Hot,
    token: &str,
    now: OffsetDateTime,
) -> Result<DemoLink, LinkError> {
    let link = verify(token_key, token, now)?;
    let count = hot
        .incr_counter(&format!("demo_link:{}", link.link_id), 1, WINDOW)
        .await
        .map_err(|error| {
            tracing::error!(%error, "Cannot count demo link use.");
            LinkError::Unavailable
        })?;
    match count {
        n if n <= TOKENS_PER_MINUTE => Ok(link),
        _ => Err(LinkError::RateLimited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        call_token::{Audience, TokenScope},
        store::memory::MemoryHot,
    };
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00 UTC);

    fn key() -> Secret {
        Secret::new("k".repeat(32))
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let tenant = Uuid::new_v4();
        let (token, minted) = mint(&key(), tenant, "desk", NOW, Duration::from_secs(900));
        let link = verify(&key(), &token, NOW).expect("valid");
        assert_eq!(link, minted);
        assert_eq!((link.tenant_id, link.agent.as_str()), (tenant, "desk"));
        let later = NOW + time::Duration::seconds(900);
        assert_eq!(verify(&key(), &token, later), Err(LinkError::Expired));
    }

    #[test]
    fn a_call_token_is_not_a_link_and_a_link_is_not_a_call_token() {
        let scope = TokenScope {
            tenant_id: Uuid::new_v4(),
            agent: "desk",
            audience: Audience::Webrtc,
            caller: None,
        };
        let call = call_token::mint(&key(), scope, NOW, Duration::from_secs(60));
        let as_link = call.replacen("vct_", PREFIX, 1);
        assert_eq!(verify(&key(), &as_link, NOW), Err(LinkError::Invalid));
        let (link, _) = mint(&key(), Uuid::new_v4(), "desk", NOW, Duration::from_secs(60));
        let as_call = link.replacen(PREFIX, "vct_", 1);
        assert_eq!(
            call_token::verify(&key(), &as_call, NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_changed_or_foreign_link_is_invalid() {
        let (token, _) = mint(&key(), Uuid::new_v4(), "desk", NOW, Duration::from_secs(60));
        let other_key = Secret::new("x".repeat(32));
        assert_eq!(verify(&other_key, &token, NOW), Err(LinkError::Invalid));
        let forged = token.replacen("vdl_e", "vdl_f", 1);
        assert_eq!(verify(&key(), &forged, NOW), Err(LinkError::Invalid));
        for junk in ["", "vdl_", "vdl_a.b", "vct_x.y"] {
            assert_eq!(verify(&key(), junk, NOW), Err(LinkError::Invalid));
        }
    }

    #[tokio::test]
    async fn a_link_admits_a_limited_number_of_tokens_a_minute() {
        let hot = MemoryHot::new();
        let (token, _) = mint(&key(), Uuid::new_v4(), "desk", NOW, Duration::from_secs(60));
        for _ in 0..TOKENS_PER_MINUTE {
            assert!(admit(&key(), &hot, &token, NOW).await.is_ok());
        }
        assert_eq!(
            admit(&key(), &hot, &token, NOW).await,
            Err(LinkError::RateLimited)
        );
    }
}

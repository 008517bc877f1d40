//! Digest authentication of INVITEs (RFC 2617 / RFC 8760 with MD5, `qop=auth` or none): the
//! challenge (`401` with `WWW-Authenticate`) and the check of the caller's `Authorization`.
//!
//! Nonces are stateless: `<seconds since start>.<HMAC of it and the client's IP>` under a key
//! made at start, valid for [`NONCE_LIFETIME`] and only from the address it was issued to. A
//! stale nonce gets a fresh challenge with `stale=true`. The digest's `uri` must be the
//! request's Request-URI (a response computed for another request does not count). Owns no IO
//! and reads no clock: the age comes in as an argument.

use crate::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::{net::IpAddr, time::Duration};
use subtle::ConstantTimeEq;

/// How long a nonce is accepted.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// The account a trunk authenticates with.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Realm shown in the challenge.
    pub realm: String,
}

/// The outcome of checking an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The response matches.
    Valid,
    /// Right password, but the nonce expired: challenge again with `stale=true`.
    Stale,
    /// Missing or wrong.
    Invalid,
}

/// Makes and checks nonces and digests for one account. Its Debug shows neither the nonce key
/// nor the password.
pub struct DigestAuth {
    credentials: Credentials,
    key: [u8; 32],
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("credentials", &self.credentials)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// `key=value, key="quoted, value"` pairs of an `Authorization` header.
fn auth_fields(text: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, next)) => (value, next),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        fields.push((key, value.trim().to_owned()));
        rest = next.trim_start().trim_start_matches(',');
        if fields.len() > 20 {
            break;
        }
    }
    fields
}

impl DigestAuth {
    /// A checker with a fresh nonce key.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            key: rand::random(),
        }
    }

    fn nonce_mac(&self, seconds: u64, client: IpAddr) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(&seconds.to_be_bytes());
        match client {
            IpAddr::V4(ip) => mac.update(&ip.octets()),
            IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    /// A nonce issued `now` (time since the endpoint started) to `client`.
    pub fn nonce(&self, now: Duration, client: IpAddr) -> String {
        let seconds = now.as_secs();
        format!("{seconds:x}.{}", self.nonce_mac(seconds, client))
    }

    /// The `WWW-Authenticate` value for a challenge issued `now` to `client`.
    pub fn challenge(&self, now: Duration, stale: bool, client: IpAddr) -> String {
        let stale = if stale { ", stale=true" } else { "" };
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{stale}",
            self.credentials.realm,
            self.nonce(now, client)
        )
    }

    /// Whether the nonce is ours and `client`'s (`Some(fresh)`), or forged or someone else's
    /// (`None`).
    fn nonce_fresh(&self, nonce: &str, now: Duration, client: IpAddr) -> Option<bool> {
        let (seconds, mac) = nonce.split_once('.')?;
        let seconds = u64::from_str_radix(seconds, 16).ok()?;
        let expected = self.nonce_mac(seconds, client);
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        Some(now.as_secs().saturating_sub(seconds) <= NONCE_LIFETIME.as_secs())
    }

    /// Checks `authorization` (the header value) on a request with this method and
    /// Request-URI, from `client`.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        (method, request_uri): (&str, &str),
        client: IpAddr,
        now: Duration,
    ) -> Verdict {
        let Some(fields) = authorization.and_then(|v| v.trim().strip_prefix("Digest")) else {
            return Verdict::Invalid;
        };
        let fields = auth_fields(fields);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        };
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            field("username"),
            field("realm"),
            field("nonce"),
            field("uri"),
            field("response"),
        ) else {
            return Verdict::Invalid;
        };
        let creds = &self.credentials;
        if username != creds.username || realm != creds.realm || uri != request_uri {
            return Verdict::Invalid;
        }
        if field("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return Verdict::Invalid;
        }
        let Some(fresh) = self.nonce_fresh(&nonce, now, client) else {
            return Verdict::Invalid;
        };
        let ha1 = md5_hex(&format!("{username}:{realm}:{}", creds.password.expose()));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match field("qop").as_deref() {
            Some("auth") => {
                let (Some(nc), Some(cnonce)) = (field("nc"), field("cnonce")) else {
                    return Verdict::Invalid;
                };
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
            Some(_) => return Verdict::Invalid,
        };
        let matches = expected
            .as_bytes()
            .ct_eq(response.to_ascii_lowercase().as_bytes());
        match (bool::from(matches), fresh) {
            (true, true) => Verdict::Valid,
            (true, false) => Verdict::Stale,
            (false, _) => Verdict::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));
    const INVITE: (&str, &str) = ("INVITE", "sip:+1555@127.0.0.1");

    fn digest() -> DigestAuth {
        DigestAuth::new(Credentials {
            username: "trunk".into(),
            password: Secret::new("s3cret"),
            realm: "voxgate".into(),
        })
    }

    fn answer(d: &DigestAuth, nonce: &str, password: &str) -> String {
        let ha1 = md5_hex(&format!("trunk:voxgate:{password}"));
        let ha2 = md5_hex("INVITE:sip:+1555@127.0.0.1");
        let response = md5_hex(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        let _ = d;
        format!(
            "Digest username=\"trunk\", realm=\"voxgate\", nonce=\"{nonce}\", \
             uri=\"sip:+1555@127.0.0.1\", response=\"{response}\", algorithm=MD5, \
             cnonce=\"abc\", qop=auth, nc=00000001"
        )
    }

    #[test]
    fn a_correct_response_to_a_fresh_nonce_is_valid() {
        let d = digest();
        let nonce = d.nonce(Duration::from_secs(10), CLIENT);
        let header = answer(&d, &nonce, "s3cret");
        assert_eq!(
            d.verify(Some(&header), INVITE, CLIENT, Duration::from_secs(20)),
            Verdict::Valid
        );
    }

    #[test]
    fn a_wrong_password_or_forged_nonce_is_invalid() {
        let d = digest();
        let nonce = d.nonce(Duration::from_secs(10), CLIENT);
        let wrong = answer(&d, &nonce, "guess");
        assert_eq!(
            d.verify(Some(&wrong), INVITE, CLIENT, Duration::from_secs(20)),
            Verdict::Invalid
        );
        let forged = answer(&d, "a.00112233445566778899aabb", "s3cret");
        assert_eq!(
            d.verify(Some(&forged), INVITE, CLIENT, Duration::from_secs(20)),
            Verdict::Invalid
        );
        assert_eq!(
            d.verify(None, INVITE, CLIENT, Duration::from_secs(20)),
            Verdict::Invalid
        );
    }

    #[test]
    fn an_old_nonce_is_stale() {
        let d = digest();
        let nonce = d.nonce(Duration::from_secs(10), CLIENT);
        let header = answer(&d, &nonce, "s3cret");
        let late = Duration::from_secs(10) + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            d.verify(Some(&header), INVITE, CLIENT, late),
            Verdict::Stale
        );
    }

    #[test]
    fn a_response_for_another_request_uri_is_invalid() {
        let d = digest();
        let nonce = d.nonce(Duration::from_secs(10), CLIENT);
        let header = answer(&d, &nonce, "s3cret");
        let other = ("INVITE", "sip:+1999@127.0.0.1");
        assert_eq!(
            d.verify(Some(&header), other, CLIENT, Duration::from_secs(20)),
            Verdict::Invalid
        );
    }

    #[test]
    fn a_nonce_issued_to_one_address_is_invalid_from_another() {
        let d = digest();
        let nonce = d.nonce(Duration::from_secs(10), CLIENT);
        let header = answer(&d, &nonce, "s3cret");
        let elsewhere: IpAddr = "203.0.113.5".parse().expect("ip");
        assert_eq!(
            d.verify(Some(&header), INVITE, elsewhere, Duration::from_secs(20)),
            Verdict::Invalid
        );
    }

    #[test]
    fn debug_output_shows_neither_the_nonce_key_nor_the_password() {
        let d = digest();
        let shown = format!("{d:?}");
        assert!(
            shown.contains("trunk") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        let key_bytes = format!("{:?}", d.key);
        assert!(!shown.contains(&key_bytes), "{shown}");
        assert!(!shown.contains(&hex::encode(d.key)), "{shown}");
    }
}

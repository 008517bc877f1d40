//! A pure-Rust crypto provider for str0m: DTLS through dimpl's RustCrypto backend, SRTP with the
//! RustCrypto AES crates, STUN's HMAC-SHA1 and certificate fingerprints with `sha1`/`sha2`.
//!
//! str0m 0.25's own `rust-crypto` feature names `str0m-rust-crypto` 0.7, which is not published,
//! and every published backend builds a C library (aws-lc, OpenSSL) or, through dimpl's `rcgen`
//! feature, aws-lc again for the self-signed certificate. This module is a port of
//! `str0m-rust-crypto` (MIT/Apache-2.0) to str0m-proto 0.8, with the certificate made by
//! `x509-cert` + `p256` (see `crypto/cert.rs`), so the server builds with cargo alone. Swap it for
//! `str0m_rust_crypto::default_provider()` once 0.7 is on crates.io.
//!
//! Owns no state and touches no sockets: str0m calls it.

mod cert;
mod srtp;

use hmac::{Hmac, KeyInit, Mac};
use std::{sync::Arc, time::Instant};
use str0m::config::{CryptoProvider, DtlsCert, DtlsVersion};
use str0m::crypto::dtls::{DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion};
use str0m::crypto::{CryptoError, Sha1HmacProvider, Sha1Provider, Sha256Provider};

pub(super) use cert::self_signed;

/// The provider every `Rtc` of this process uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static SRTP: srtp::RustCryptoSrtp = srtp::RustCryptoSrtp;
    static HASHES: Hashes = Hashes;
    static DTLS: Dtls = Dtls;
    Arc::new(CryptoProvider {
        srtp_provider: &SRTP,
        sha1_hmac_provider: &HASHES,
        sha1_provider: &HASHES,
        sha256_provider: &HASHES,
        dtls_provider: &DTLS,
    })
}

/// SHA-1, HMAC-SHA1 and SHA-256.
#[derive(Debug)]
struct Hashes;

impl Sha1HmacProvider for Hashes {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key) else {
            return [0; 20];
        };
        for payload in payloads {
            mac.update(payload);
        }
        mac.finalize().into_bytes().into()
    }
}

impl Sha1Provider for Hashes {
    fn sha1(&self, data: &[u8]) -> [u8; 20] {
        use sha1::Digest;
        sha1::Sha1::digest(data).into()
    }
}

impl Sha256Provider for Hashes {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }
}

/// DTLS through dimpl with its RustCrypto backend.
#[derive(Debug)]
struct Dtls;

impl DtlsProvider for Dtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        self_signed().ok()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // ICE has checked return routability before DTLS starts: server cookies add nothing.
        let mut builder = dimpl::Config::builder()
            .with_crypto_provider(dimpl::crypto::rust_crypto::default_provider())
            .use_server_cookie(false);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = builder
            .build()
            .map_err(|error| CryptoError::Other(format!("DTLS configuration: {error}")))?;
        let config = Arc::new(config);
        let cert = cert.clone();
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => return Err(CryptoError::Other(format!("unsupported {other}"))),
        };
        Ok(Box::new(DtlsSession(dtls)))
    }
}

struct DtlsSession(dimpl::Dtls);

impl std::fmt::Debug for DtlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DtlsSession")
    }
}

impl DtlsInstance for DtlsSession {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_vectors() {
        let sha1 = Hashes.sha1(b"abc");
        assert_eq!(
            hex::encode(sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let sha256 = Hashes.sha256(b"abc");
        assert_eq!(
            hex::encode(sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 2202, test case 2.
        let mac = Hashes.sha1_hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn a_dtls_session_starts_with_the_generated_certificate() {
        let cert = self_signed().expect("certificate");
        let dtls = Dtls.new_dtls(&cert, Instant::now(), DtlsVersion::Dtls12, None);
        assert!(dtls.is_ok());
    }
}

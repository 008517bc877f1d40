//! The DTLS certificate: a self-signed ECDSA P-256 certificate made with `x509-cert` and `p256`
//! (what dimpl does with `rcgen`, without pulling aws-lc). Browsers pin it by the fingerprint in
//! the SDP answer, so its names do not matter; its serial number must be random (Firefox).

use p256::{ecdsa::DerSignature, ecdsa::SigningKey, pkcs8::EncodePrivateKey};
use std::{str::FromStr, time::Duration};
use str0m::config::DtlsCert;
use x509_cert::{
    builder::{Builder, CertificateBuilder, profile::BuilderProfile},
    der::Encode,
    ext::Extension,
    name::Name,
    serial_number::SerialNumber,
    spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef},
    time::Validity,
};

/// How long a certificate is valid. One is made per process, so this bounds the uptime after
/// which new calls would fail on a strict peer; restarting renews it.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the DTLS certificate: {0}")]
pub(in crate::transport::webrtc) struct CertError(String);

fn fail(error: impl std::fmt::Display) -> CertError {
    CertError(error.to_string())
}

/// A self-signed end-entity certificate with no extensions.
struct SelfSigned(Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.0.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

/// A random P-256 key (from the OS generator).
fn signing_key() -> Result<SigningKey, CertError> {
    for _ in 0..8 {
        let bytes: [u8; 32] = rand::random();
        // Fails only for zero or values above the group order: vanishingly rare.
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
    Err(fail("no valid key from the random generator"))
}

/// A fresh certificate and its PKCS#8 private key, both DER.
pub(in crate::transport::webrtc) fn self_signed() -> Result<DtlsCert, CertError> {
    let key = signing_key()?;
    let mut serial: [u8; 16] = rand::random();
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive and not zero-led
    let serial = SerialNumber::new(&serial).map_err(fail)?;
    let validity = Validity::from_now(VALIDITY).map_err(fail)?;
    let subject = Name::from_str("CN=voxgate,O=voxgate").map_err(fail)?;
    let spki = SubjectPublicKeyInfo::from_key(key.verifying_key()).map_err(fail)?;
    let certificate = CertificateBuilder::new(SelfSigned(subject), serial, validity, spki)
        .map_err(fail)?
        .build::<_, DerSignature>(&key)
        .map_err(fail)?
        .to_der()
        .map_err(fail)?;
    let private_key = key.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec();
    Ok(DtlsCert {
        certificate,
        private_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::{Certificate, der::Decode};

    #[test]
    fn each_certificate_is_new_and_self_signed() {
        let first = self_signed().expect("certificate");
        let second = self_signed().expect("certificate");
        assert_ne!(first.certificate, second.certificate);
        let parsed = Certificate::from_der(&first.certificate).expect("DER certificate");
        let tbs = parsed.tbs_certificate();
        assert_eq!(tbs.issuer(), tbs.subject());
        assert!(!first.private_key.is_empty());
    }
}

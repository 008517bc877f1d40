//! API keys: minting, the salted hash that is stored, and verification.
//!
//! A key reads `vg_<id>_<secret>`: the id (32 hex digits) finds the record, the secret (64 hex
//! digits, 256 random bits) is checked against `SHA-256(salt || secret)` in constant time. The
//! plain key exists only in the response that creates it.

use crate::{secret::Secret, store::ApiKeyRecord};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

const PREFIX: &str = "vg_";

/// A freshly minted key: the record to store and the plain key to show once.
pub struct MintedKey {
    /// What the store keeps.
    pub record: ApiKeyRecord,
    /// The key, for the caller's eyes only.
    pub key: Secret,
}

/// Mints a key for `tenant`.
pub fn mint(tenant: Uuid, label: &str, at: OffsetDateTime) -> MintedKey {
    let mut rng = rand::rng();
    let id = Uuid::new_v4();
    let secret: [u8; 32] = rng.random();
    let salt: [u8; 16] = rng.random();
    let secret_hex = hex::encode(secret);
    let record = ApiKeyRecord {
        id,
        tenant_id: tenant,
        label: label.to_owned(),
        salt: salt.to_vec(),
        hash: hash(&salt, &secret_hex),
        created_at: at,
        revoked_at: None,
    };
    let key = Secret::new(format!("{PREFIX}{}_{secret_hex}", id.simple()));
    MintedKey { record, key }
}

/// Splits a presented key into its id and secret; `None` if it is not shaped like a key.
pub fn parse(presented: &str) -> Option<(Uuid, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() != 64 {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

/// True when `secret` belongs to `record` and the key is not revoked.
pub fn verify(record: &ApiKeyRecord, secret: &str) -> bool {
    let computed = hash(&record.salt, secret);
    bool::from(computed.ct_eq(&record.hash)) && record.revoked_at.is_none()
}

fn hash(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(salt);
    digest.update(secret.as_bytes());
    digest.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_verifies_and_a_changed_one_does_not() {
        let minted = mint(Uuid::new_v4(), "ci", OffsetDateTime::UNIX_EPOCH);
        let (id, secret) = parse(minted.key.expose()).expect("well-formed key");
        assert_eq!(id, minted.record.id);
        assert!(verify(&minted.record, secret));
        let mut tampered = secret.to_owned();
        tampered.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        assert!(!verify(&minted.record, &tampered));
    }

    #[test]
    fn the_stored_record_does_not_contain_the_secret() {
        let minted = mint(Uuid::new_v4(), "ci", OffsetDateTime::UNIX_EPOCH);
        let (_, secret) = parse(minted.key.expose()).expect("well-formed key");
        assert_ne!(hex::encode(&minted.record.hash), secret);
        assert_eq!(minted.record.hash.len(), 32);
    }

    #[test]
    fn revoked_keys_do_not_verify() {
        let mut minted = mint(Uuid::new_v4(), "ci", OffsetDateTime::UNIX_EPOCH);
        let key = minted.key.expose().to_owned();
        let (_, secret) = parse(&key).expect("well-formed key");
        minted.record.revoked_at = Some(OffsetDateTime::UNIX_EPOCH);
        assert!(!verify(&minted.record, secret));
    }

    #[test]
    fn malformed_keys_are_rejected_before_any_lookup() {
        for bad in [
            "",
            "vg_",
            "sk-123",
            "vg_nothex_abc",
            &format!("vg_{}_{}", "a".repeat(32), "b"),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}

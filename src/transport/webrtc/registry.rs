//! The WebRTC calls live on this node: how many each tenant has (for the per-tenant cap) and each
//! call's secret (for `DELETE /v1/calls/webrtc/{id}`). Secrets are kept as SHA-256 digests and
//! compared in constant time. A slot is reserved before a call starts and released on failure or
//! when the endpoint drops the call.

use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const SECRET_PREFIX: &str = "vcs_";

#[derive(Debug, Default)]
struct Inner {
    per_tenant: HashMap<Uuid, u32>,
    calls: HashMap<Uuid, (Uuid, [u8; 32])>,
}

/// Live WebRTC calls.
#[derive(Debug, Default)]
pub(super) struct Registry(Mutex<Inner>);

/// The tenant is at its cap.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AtCapacity;

/// What a `DELETE` found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// The call is live and the secret is its own.
    Granted,
    /// The call is live; the secret is not its own.
    WrongSecret,
    /// No such live WebRTC call on this node.
    Unknown,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new call secret: `vcs_` and 64 hex digits.
pub(super) fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent across a panic elsewhere: every change is a single step.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves one of the tenant's `cap` slots.
    pub(super) fn reserve(self: &Arc<Self>, tenant: Uuid, cap: u32) -> Result<Slot, AtCapacity> {
        let mut inner = self.lock();
        let count = inner.per_tenant.entry(tenant).or_default();
        if *count >= cap {
            return Err(AtCapacity);
        }
        *count += 1;
        Ok(Slot {
            registry: self.clone(),
            tenant,
            bound: false,
        })
    }

    /// Checks a call's secret.
    pub(super) fn lookup(&self, call_id: Uuid, secret: &str) -> Lookup {
        match self.lock().calls.get(&call_id) {
            None => Lookup::Unknown,
            Some((_, expected)) if bool::from(digest(secret).ct_eq(expected)) => Lookup::Granted,
            Some(_) => Lookup::WrongSecret,
        }
    }

    /// Forgets a call and frees its tenant's slot.
    pub(super) fn remove(&self, call_id: Uuid) {
        let mut inner = self.lock();
        if let Some((tenant, _)) = inner.calls.remove(&call_id) {
            release(&mut inner, tenant);
        }
    }

    /// Live WebRTC calls on this node.
    pub(super) fn len(&self) -> usize {
        self.lock().calls.len()
    }
}

fn release(inner: &mut Inner, tenant: Uuid) {
    if let Some(count) = inner.per_tenant.get_mut(&tenant) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            inner.per_tenant.remove(&tenant);
        }
    }
}

/// A reserved slot: freed on drop unless bound to a call.
#[derive(Debug)]
pub(super) struct Slot {
    registry: Arc<Registry>,
    tenant: Uuid,
    bound: bool,
}

impl Slot {
    /// Binds the slot to a started call and its secret; [`Registry::remove`] frees it.
    pub(super) fn bind(mut self, call_id: Uuid, secret: &str) {
        self.bound = true;
        let mut inner = self.registry.lock();
        inner.calls.insert(call_id, (self.tenant, digest(secret)));
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.bound {
            release(&mut self.registry.lock(), self.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_cap_and_no_more_and_slots_come_back() {
        let registry = Arc::new(Registry::default());
        let (acme, other) = (Uuid::new_v4(), Uuid::new_v4());
        let first = registry.reserve(acme, 2).expect("first");
        let second = registry.reserve(acme, 2).expect("second");
        assert_eq!(registry.reserve(acme, 2).err(), Some(AtCapacity));
        assert!(
            registry.reserve(other, 2).is_ok(),
            "other tenants are not affected"
        );
        drop(first); // a call that failed to start
        let call = Uuid::new_v4();
        registry
            .reserve(acme, 2)
            .expect("freed")
            .bind(call, "vcs_x");
        drop(second);
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.reserve(acme, 1).err(), Some(AtCapacity));
        registry.remove(call);
        assert!(registry.reserve(acme, 1).is_ok());
    }

    #[test]
    fn only_the_calls_own_secret_is_granted() {
        let registry = Arc::new(Registry::default());
        let call = Uuid::new_v4();
        let secret = new_secret();
        assert!(secret.starts_with("vcs_") && secret.len() == 68);
        registry
            .reserve(Uuid::new_v4(), 1)
            .expect("slot")
            .bind(call, &secret);
        assert_eq!(registry.lookup(call, &secret), Lookup::Granted);
        assert_eq!(registry.lookup(call, &new_secret()), Lookup::WrongSecret);
        assert_eq!(registry.lookup(Uuid::new_v4(), &secret), Lookup::Unknown);
    }
}

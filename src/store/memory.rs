//! The in-process memory backend of [`Hot`]: the embedded default for a single node.
//!
//! State lives in one map guarded by a short-held mutex; entries carry their expiry and are
//! dropped lazily when read and in a sweep on every write. Time is tokio's clock, so tests
//! can pause and advance it.

use super::{BreakerNews, Hot, LiveCall, StoreError, StoreResult};
use async_trait::async_trait;
use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Debug)]
enum Value {
    Call(LiveCall),
    Checkpoint(Vec<u8>),
    Counter(i64),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Instant,
}

/// Hot state in this process. Lost on restart; not shared with other nodes.
#[derive(Debug, Default)]
pub struct MemoryHot {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryHot {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, HashMap<String, Entry>>> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".to_owned()))
    }

    fn put(&self, key: String, value: Value, ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut entries = self.lock()?;
        entries.retain(|_, entry| entry.expires_at > now);
        entries.insert(
            key,
            Entry {
                value,
                expires_at: expiry(now, ttl),
            },
        );
        Ok(())
    }
}

/// When an entry written at `now` with `ttl` expires; a TTL beyond the clock's range means never.
fn expiry(now: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(ttl)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

fn call_key(tenant: Uuid, call: Uuid) -> String {
    format!("call:{tenant}:{call}")
}

#[async_trait]
impl Hot for MemoryHot {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(|_| ())
    }

    async fn register_call(&self, call: &LiveCall, ttl: Duration) -> StoreResult<()> {
        let key = call_key(call.tenant_id, call.call_id);
        self.put(key, Value::Call(call.clone()), ttl)
    }

    async fn live_calls(&self, tenant: Uuid) -> StoreResult<Vec<LiveCall>> {
        let now = Instant::now();
        let prefix = format!("call:{tenant}:");
        let entries = self.lock()?;
        let mut calls: Vec<LiveCall> = entries
            .iter()
            .filter(|(key, entry)| key.starts_with(&prefix) && entry.expires_at > now)
            .filter_map(|(_, entry)| match &entry.value {
                Value::Call(call) => Some(call.clone()),
                _ => None,
            })
            .collect();
        calls.sort_by_key(|call| (call.started_at, call.call_id));
        Ok(calls)
    }

    async fn unregister_call(&self, tenant: Uuid, call: Uuid) -> StoreResult<()> {
        self.lock()?.remove(&call_key(tenant, call));
        Ok(())
    }

    async fn put_checkpoint(&self, call: Uuid, data: &[u8], ttl: Duration) -> StoreResult<()> {
        self.put(
            format!("checkpoint:{call}"),
            Value::Checkpoint(data.to_vec()),
            ttl,
        )
    }

    async fn get_checkpoint(&self, call: Uuid) -> StoreResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let entries = self.lock()?;
        Ok(match entries.get(&format!("checkpoint:{call}")) {
            Some(Entry {
                value: Value::Checkpoint(data),
                expires_at,
            }) if *expires_at > now => Some(data.clone()),
            _ => None,
        })
    }

    async fn incr_counter(&self, key: &str, by: i64, ttl: Duration) -> StoreResult<i64> {
        let now = Instant::now();
        let key = format!("counter:{key}");
        let mut entries = self.lock()?;
        let entry = entries
            .entry(key)
            .and_modify(|entry| {
                if entry.expires_at <= now {
                    *entry = Entry {
                        value: Value::Counter(0),
                        expires_at: expiry(now, ttl),
                    };
                }
            })
            .or_insert_with(|| Entry {
                value: Value::Counter(0),
                expires_at: expiry(now, ttl),
            });
        match &mut entry.value {
            Value::Counter(count) => {
                *count = count.saturating_add(by);
                Ok(*count)
            }
            _ => Err(StoreError::Corrupt("key holds a non-counter value".into())),
        }
    }

    async fn get_counter(&self, key: &str) -> StoreResult<i64> {
        let now = Instant::now();
        let entries = self.lock()?;
        Ok(match entries.get(&format!("counter:{key}")) {
            Some(Entry {
                value: Value::Counter(count),
                expires_at,
            }) if *expires_at > now => *count,
            _ => 0,
        })
    }

    async fn publish_breaker(&self, _news: &BreakerNews, _ttl: Duration) -> StoreResult<()> {
        Ok(())
    }

    async fn subscribe_breakers(&self) -> StoreResult<tokio::sync::mpsc::Receiver<BreakerNews>> {
        Ok(tokio::sync::mpsc::channel(1).1)
    }
}

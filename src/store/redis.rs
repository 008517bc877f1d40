//! The Redis backend of [`Hot`]: shared across every node of a deployment.
//!
//! One auto-reconnecting multiplexed `ConnectionManager`. Every key starts with the configured
//! prefix. A live call is a key with a TTL plus a member of a per-tenant sorted set scored by its
//! expiry, so listing needs no SCAN and expired members are pruned as they are read.

use super::{BreakerNews, Hot, LiveCall, StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{AsyncCommands, aio::ConnectionManager};
use std::time::Duration;
use uuid::Uuid;

/// Hot state in Redis.
#[derive(Clone)]
pub struct RedisHot {
    conn: ConnectionManager,
    /// For pub/sub, which needs a connection of its own.
    client: redis::Client,
    prefix: String,
}

impl std::fmt::Debug for RedisHot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHot")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Counter increment that sets the TTL only when the window starts.
const INCR_WITH_TTL: &str = r"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

impl RedisHot {
    /// Connects; `prefix` is prepended to every key (e.g. `voxgate:`).
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            conn,
            client,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn call_index(&self, tenant: Uuid) -> String {
        self.key(&format!("calls:{tenant}"))
    }

    fn call_key(&self, tenant: Uuid, call: Uuid) -> String {
        self.key(&format!("call:{tenant}:{call}"))
    }

    fn breaker_channel(&self) -> String {
        self.key("breakers")
    }

    fn breaker_key(&self, target: &str) -> String {
        self.key(&format!("breaker:{target}"))
    }

    /// The open breakers stored now.
    async fn stored_breakers(&self) -> StoreResult<Vec<BreakerNews>> {
        let mut conn = self.conn.clone();
        let pattern = self.breaker_key("*");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(200)
                .query_async(&mut conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> = conn.mget(&keys).await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect())
    }
}

#[async_trait]
impl Hot for RedisHot {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn register_call(&self, call: &LiveCall, ttl: Duration) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let json = serde_json::to_string(call).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires = now_ms().saturating_add(i64::try_from(ttl_ms(ttl)).unwrap_or(i64::MAX));
        let index = self.call_index(call.tenant_id);
        let _: () = redis::pipe()
            .atomic()
            .pset_ex(
                self.call_key(call.tenant_id, call.call_id),
                json,
                ttl_ms(ttl),
            )
            .zadd(&index, call.call_id.to_string(), expires)
            // The index lives as long as its longest-lived member: set when unset, else extend.
            .cmd("PEXPIRE")
            .arg(&index)
            .arg(ttl_ms(ttl))
            .arg("NX")
            .cmd("PEXPIRE")
            .arg(&index)
            .arg(ttl_ms(ttl))
            .arg("GT")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn live_calls(&self, tenant: Uuid) -> StoreResult<Vec<LiveCall>> {
        let mut conn = self.conn.clone();
        let index = self.call_index(tenant);
        let _: i64 = conn.zrembyscore(&index, "-inf", now_ms()).await?;
        let ids: Vec<String> = conn.zrange(&index, 0, -1).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids
            .iter()
            .filter_map(|id| id.parse::<Uuid>().ok())
            .map(|id| self.call_key(tenant, id))
            .collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut calls = values
            .into_iter()
            .flatten()
            .map(|json| serde_json::from_str::<LiveCall>(&json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StoreError::Corrupt(format!("live call entry: {error}")))?;
        calls.retain(|call| call.tenant_id == tenant);
        calls.sort_by_key(|call| (call.started_at, call.call_id));
        Ok(calls)
    }

    async fn unregister_call(&self, tenant: Uuid, call: Uuid) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .atomic()
            .del(self.call_key(tenant, call))
            .zrem(self.call_index(tenant), call.to_string())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn put_checkpoint(&self, call: Uuid, data: &[u8], ttl: Duration) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let key = self.key(&format!("checkpoint:{call}"));
        let _: () = conn.pset_ex(key, data, ttl_ms(ttl)).await?;
        Ok(())
    }

    async fn get_checkpoint(&self, call: Uuid) -> StoreResult<Option<Vec<u8>>> {
        let mut conn = self.conn.clone();
        let key = self.key(&format!("checkpoint:{call}"));
        Ok(conn.get(key).await?)
    }

    async fn incr_counter(&self, key: &str, by: i64, ttl: Duration) -> StoreResult<i64> {
        let mut conn = self.conn.clone();
        let value: i64 = redis::Script::new(INCR_WITH_TTL)
            .key(self.key(&format!("counter:{key}")))
            .arg(by)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(value)
    }

    async fn get_counter(&self, key: &str) -> StoreResult<i64> {
        let mut conn = self.conn.clone();
        let value: Option<i64> = conn.get(self.key(&format!("counter:{key}"))).await?;
        Ok(value.unwrap_or(0))
    }

    async fn publish_breaker(&self, news: &BreakerNews, ttl: Duration) -> StoreResult<()> {
        let text = serde_json::to_string(news)
            .map_err(|error| StoreError::Corrupt(format!("breaker news: {error}")))?;
        let mut conn = self.conn.clone();
        let key = self.breaker_key(&news.target);
        if news.open {
            let _: () = conn.pset_ex(&key, &text, ttl_ms(ttl)).await?;
        } else {
            let _: () = conn.del(&key).await?;
        }
        let _: () = conn.publish(self.breaker_channel(), &text).await?;
        Ok(())
    }

    async fn subscribe_breakers(&self) -> StoreResult<tokio::sync::mpsc::Receiver<BreakerNews>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.breaker_channel()).await?;
        let stored = self.stored_breakers().await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            for news in stored {
                if sender.send(news).await.is_err() {
                    return;
                }
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Ok(text) = message.get_payload::<String>() else {
                    continue;
                };
                let Ok(news) = serde_json::from_str::<BreakerNews>(&text) else {
                    tracing::warn!("Ignoring malformed breaker news from Redis.");
                    continue;
                };
                if sender.send(news).await.is_err() {
                    return;
                }
            }
            tracing::warn!("Redis breaker subscription ended.");
        });
        Ok(receiver)
    }
}

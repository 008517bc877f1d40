//! Breaker news between nodes, through the hot store (Redis): a node whose breaker opens or
//! closes publishes it (an open one is also stored until it may close, for nodes that start
//! later), and every node applies what the others publish to its own breaker.

use super::{HealthRegistry, Target};
use crate::store::BreakerNews;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use voxgate_core::failover::{StateKind, Transition};

/// How long to wait before subscribing again after the subscription broke.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(2);

fn unix_ms_now() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Publishes a local open or close to the other nodes, in the background.
pub(super) fn publish(registry: &HealthRegistry, target: &Target, transition: &Transition) {
    let Some(hot) = registry.hot().cloned() else {
        return;
    };
    let open = transition.to == StateKind::Open;
    let cooldown = transition.cooldown.unwrap_or(Duration::ZERO);
    let cooldown_ms = i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX);
    let news = BreakerNews {
        target: target.key(),
        open,
        until_unix_ms: unix_ms_now().saturating_add(cooldown_ms),
        node: registry.node().to_owned(),
    };
    tokio::spawn(async move {
        let ttl = cooldown.max(Duration::from_secs(1));
        if let Err(error) = hot.publish_breaker(&news, ttl).await {
            tracing::warn!(%error, "Cannot share a breaker change with the other nodes.");
        }
    });
}

/// Applies the other nodes' news for as long as the registry lives.
pub(super) fn follow(registry: &Arc<HealthRegistry>) {
    let weak = Arc::downgrade(registry);
    tokio::spawn(async move {
        loop {
            let Some(hot) = weak.upgrade().and_then(|r| r.hot().cloned()) else {
                return;
            };
            match hot.subscribe_breakers().await {
                Ok(mut news) => {
                    while let Some(item) = news.recv().await {
                        let Some(registry) = weak.upgrade() else {
                            return;
                        };
                        apply(&registry, &item);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "Cannot follow the other nodes' breaker changes.");
                }
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    });
}

fn apply(registry: &HealthRegistry, news: &BreakerNews) {
    if news.node == registry.node() {
        return;
    }
    let Some(target) = Target::from_key(&news.target) else {
        return;
    };
    if news.open {
        let remaining_ms = news.until_unix_ms.saturating_sub(unix_ms_now());
        let Ok(remaining_ms) = u64::try_from(remaining_ms) else {
            return; // Already over.
        };
        let until = Instant::now() + Duration::from_millis(remaining_ms);
        registry.remote(&target, Some(until));
    } else {
        registry.remote(&target, None);
    }
}

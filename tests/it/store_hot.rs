//! Conformance suite of the hot store, run against every backend: memory always, Redis when
//! `VOXGATE_TEST_REDIS_URL` is set. Each Redis test uses a key prefix of its own.

use std::time::Duration;
use time::macros::datetime;
use uuid::Uuid;
use voxgate::store::{Hot, LiveCall};

macro_rules! hot_suite {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::memory().as_ref()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(hot) = crate::support::redis().await else { return };
                    super::$test(hot.as_ref()).await;
                }
            )*
        }
    };
}

hot_suite!(
    answers_ping,
    live_calls_are_listed_per_tenant_and_removed,
    live_calls_expire_unless_refreshed,
    checkpoints_replace_and_expire,
    counters_add_and_expire_with_their_window,
);

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(60);

async fn pass(duration: Duration) {
    tokio::time::sleep(duration).await;
}

fn live(tenant: Uuid, minute: u8) -> LiveCall {
    LiveCall {
        call_id: Uuid::new_v4(),
        tenant_id: tenant,
        agent: "desk".to_owned(),
        node: "node-1".to_owned(),
        mode: "realtime".to_owned(),
        started_at: datetime!(2026-12-01 10:00 UTC) + time::Duration::minutes(minute.into()),
    }
}

async fn answers_ping(hot: &dyn Hot) {
    hot.ping().await.expect("ping");
}

async fn live_calls_are_listed_per_tenant_and_removed(hot: &dyn Hot) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let first = live(a, 0);
    let second = live(a, 1);
    let theirs = live(b, 0);
    for call in [&second, &first, &theirs] {
        hot.register_call(call, LONG).await.expect("registered");
    }
    let mut changed = first.clone();
    changed.mode = "pipeline".to_owned();
    hot.register_call(&changed, LONG).await.expect("refreshed");
    assert_eq!(
        hot.live_calls(a).await.expect("listed"),
        vec![changed, second.clone()]
    );
    assert_eq!(hot.live_calls(b).await.expect("listed"), vec![theirs]);
    hot.unregister_call(a, first.call_id)
        .await
        .expect("removed");
    assert_eq!(hot.live_calls(a).await.expect("listed"), vec![second]);
    // Removing with the wrong tenant does nothing.
    hot.unregister_call(b, first.call_id).await.expect("no-op");
    assert!(
        hot.live_calls(Uuid::new_v4())
            .await
            .expect("listed")
            .is_empty()
    );
}

async fn live_calls_expire_unless_refreshed(hot: &dyn Hot) {
    let tenant = Uuid::new_v4();
    let fading = live(tenant, 0);
    let kept = live(tenant, 1);
    hot.register_call(&fading, SHORT).await.expect("registered");
    hot.register_call(&kept, LONG).await.expect("registered");
    pass(SHORT * 2).await;
    assert_eq!(hot.live_calls(tenant).await.expect("listed"), vec![kept]);
}

async fn checkpoints_replace_and_expire(hot: &dyn Hot) {
    let call = Uuid::new_v4();
    assert_eq!(hot.get_checkpoint(call).await.expect("read"), None);
    hot.put_checkpoint(call, b"seq=1", LONG)
        .await
        .expect("saved");
    hot.put_checkpoint(call, b"seq=2\x00\xff", LONG)
        .await
        .expect("saved");
    assert_eq!(
        hot.get_checkpoint(call).await.expect("read"),
        Some(b"seq=2\x00\xff".to_vec())
    );
    let short = Uuid::new_v4();
    hot.put_checkpoint(short, b"gone soon", SHORT)
        .await
        .expect("saved");
    pass(SHORT * 2).await;
    assert_eq!(hot.get_checkpoint(short).await.expect("read"), None);
}

async fn counters_add_and_expire_with_their_window(hot: &dyn Hot) {
    assert_eq!(hot.get_counter("calls:acme").await.expect("read"), 0);
    assert_eq!(
        hot.incr_counter("calls:acme", 1, LONG).await.expect("incr"),
        1
    );
    assert_eq!(
        hot.incr_counter("calls:acme", 5, LONG).await.expect("incr"),
        6
    );
    assert_eq!(
        hot.incr_counter("calls:acme", -2, LONG)
            .await
            .expect("incr"),
        4
    );
    assert_eq!(hot.get_counter("calls:acme").await.expect("read"), 4);
    // The window starts at the first increment; later increments do not extend it.
    hot.incr_counter("window", 1, SHORT).await.expect("incr");
    pass(SHORT / 2).await;
    hot.incr_counter("window", 1, SHORT).await.expect("incr");
    pass(SHORT).await;
    assert_eq!(hot.get_counter("window").await.expect("read"), 0);
    assert_eq!(hot.incr_counter("window", 1, SHORT).await.expect("incr"), 1);
}

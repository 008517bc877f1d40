//! Two voxgate processes sharing Redis: an outage one of them finds opens the breaker in the
//! other, which then spares the provider.

use crate::{
    serve::{mint_key, open_call, serve},
    support::{TempDir, redis_url},
};
use serde_json::Value;
use std::time::Duration;
use voxgate::provider::sim::{ConnectFaults, Simulator};

/// Node `addr`'s view of the realtime provider, if it lists one.
async fn realtime_state(addr: &str, key: &str) -> Option<Value> {
    let listed: Value = reqwest::Client::new()
        .get(format!("http://{addr}/v1/providers"))
        .bearer_auth(key)
        .send()
        .await
        .expect("providers")
        .json()
        .await
        .expect("json");
    listed["providers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["stage"] == "realtime").cloned())
}

#[tokio::test]
async fn an_outage_seen_by_one_node_opens_the_breaker_on_the_other() {
    let Some(redis) = redis_url() else { return };
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts");
    sim.set_connect_faults(ConnectFaults {
        reject_connect_with: Some(503),
        retry_after_s: Some(30),
        reject_count: None,
        ..ConnectFaults::default()
    });
    let prefix = format!("voxgate_failover_test:{}:", uuid::Uuid::new_v4().simple());
    let base_url = sim.base_url();
    let env = [
        ("VOXGATE_REDIS_URL", redis.as_str()),
        ("VOXGATE_REDIS_KEY_PREFIX", prefix.as_str()),
        ("VOXGATE_OPENAI_API_KEY", "sk-test-shared-provider"),
        ("VOXGATE_OPENAI_BASE_URL", base_url.as_str()),
    ];
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let (mut node_a, addr_a, _) = serve(&dir_a.path, &env).await;
    let (mut node_b, addr_b, _) = serve(&dir_b.path, &env).await;
    let key_a = mint_key(&dir_a.path, &env).await;
    let key_b = mint_key(&dir_b.path, &env).await;

    // A call on node A finds the provider refusing (503, Retry-After 30 s): its breaker opens.
    let _call_a = open_call(&addr_a, &key_a).await;
    assert_eq!(
        sim.log().rejected_connects,
        vec![503],
        "one attempt, no retry into a Retry-After"
    );

    // Node B hears of it through Redis, without having tried the provider itself.
    let mut seen = None;
    for _ in 0..100 {
        seen = realtime_state(&addr_b, &key_b).await;
        if seen.as_ref().is_some_and(|p| p["state"] == "open") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.expect("node B lists the realtime provider");
    assert_eq!(seen["state"], "open", "{seen}");
    assert_eq!(seen["last_change"]["reason"], "remote", "{seen}");

    // A call on node B goes straight to the pipeline: the provider is spared.
    let _call_b = open_call(&addr_b, &key_b).await;
    assert_eq!(
        sim.log().rejected_connects,
        vec![503],
        "node B did not try the provider"
    );
    node_a.kill().await.expect("stopped");
    node_b.kill().await.expect("stopped");
}

//! What a `--fault realtime-drop` run measures, read back from voxgate's own records once the
//! calls are over: every switch incident's timings (failure detected → new path in place → its
//! first audio), and, per call, caller utterances against the user turns stored.

use crate::outbound::http_client;
use serde_json::Value;
use std::time::Duration;

/// Failover figures of one run.
#[derive(Debug, Default)]
pub(super) struct FailoverStats {
    /// Switches away from a failed path (returns to realtime are counted apart).
    pub(super) failovers: usize,
    /// Returns to the realtime provider once it was healthy.
    pub(super) recoveries: usize,
    /// Failure detected → new path connected, seeded and replayed.
    pub(super) to_switch: Vec<Duration>,
    /// Failure detected → first agent audio on the new path, when the caller was waiting.
    pub(super) to_first_audio: Vec<Duration>,
    /// Caller turns stored as user items, per call, by the caller's number (or the call id
    /// when the call has none).
    pub(super) stored_turns: std::collections::HashMap<String, u64>,
}

/// Every page of a list endpoint.
async fn all_pages(base: &str, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}{path}?limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = http_client()
            .get(&url)
            .bearer_auth(key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// A key for the default tenant (where the load generator's calls land), minted with the
/// admin key.
pub(super) async fn tenant_key(base: &str, admin_key: &str) -> anyhow::Result<String> {
    let tenants: Value = http_client()
        .get(format!("{base}/v1/tenants"))
        .bearer_auth(admin_key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let tenant = tenants["items"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == "default"))
        .and_then(|t| t["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no default tenant"))?
        .to_owned();
    let minted: Value = http_client()
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(admin_key)
        .json(&serde_json::json!({"tenant_id": tenant, "label": "loadgen"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    minted["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no key minted"))
}

/// Reads the run's switch incidents and stored caller turns.
pub(super) async fn collect(base: &str, admin_key: &str) -> anyhow::Result<FailoverStats> {
    let key = tenant_key(base, admin_key).await?;
    let mut stats = FailoverStats::default();
    for incident in all_pages(base, "/v1/incidents", &key).await? {
        if incident["action"] != "switched" {
            continue;
        }
        let detail = &incident["detail"];
        if detail["reason"] == "recovered" {
            stats.recoveries += 1;
            continue;
        }
        stats.failovers += 1;
        if let Some(ms) = detail["switch_ms"].as_u64() {
            stats.to_switch.push(Duration::from_millis(ms));
        }
        if let Some(ms) = detail["first_audio_ms"].as_u64() {
            stats.to_first_audio.push(Duration::from_millis(ms));
        }
    }
    for call in all_pages(base, "/v1/calls", &key).await? {
        let Some(id) = call["id"].as_str() else {
            continue;
        };
        let stored: Value = http_client()
            .get(format!("{base}/v1/calls/{id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let users = stored["transcript"].as_array().map_or(0, |items| {
            items.iter().filter(|i| i["role"] == "user").count()
        });
        let caller = call["caller"].as_str().filter(|number| !number.is_empty());
        let key = caller.unwrap_or(id).to_owned();
        *stats.stored_turns.entry(key).or_default() += users as u64;
    }
    stats.to_switch.sort_unstable();
    stats.to_first_audio.sort_unstable();
    Ok(stats)
}

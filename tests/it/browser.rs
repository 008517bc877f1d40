//! The call widget in a real browser: headless Chromium driven by `tests/browser/call.mjs`
//! (playwright-core, no browser download) against an in-process server and simulator.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/browser/node_modules` (`npm ci --prefix
//! tests/browser`); without them the tests print why and pass, unless
//! `VOXGATE_TEST_REQUIRE_PEERS=1`. One test places a whole call through the widget (a fake
//! microphone playing the speech fixture; a screenshot of the widget mid-call is kept in
//! `target/tmp/widget-mid-call.png`); the others check the failure paths (microphone denied,
//! network down, link used up).

use crate::{
    sim::fixtures_dir,
    support::{CallSetup, TempDir, skip},
};
use serde_json::{Value, json};
use std::{path::Path, time::Duration};
use tokio::{process::Command, sync::Mutex};

const CHROMIUM: &str = "/usr/bin/chromium";
/// One browser at a time: the machines running these have two cores.
static BROWSER: Mutex<()> = Mutex::const_new(());

fn harness_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

/// True when Chromium, node and playwright-core are here; otherwise reports a skip.
async fn browser_ready() -> bool {
    if !Path::new(CHROMIUM).exists() {
        skip("/usr/bin/chromium is missing (apt-get install -y chromium)");
        return false;
    }
    if !harness_dir().join("node_modules/playwright-core").exists() {
        skip("tests/browser/node_modules is missing (npm ci --prefix tests/browser)");
        return false;
    }
    let node = Command::new("node").arg("--version").output().await;
    if !node.is_ok_and(|output| output.status.success()) {
        skip("node is missing (the browser harness runs on Node 20+)");
        return false;
    }
    true
}

/// Mints a demo link to the setup's agent `desk`; returns its URL (`/demo?link=…`).
async fn demo_url(call: &CallSetup) -> String {
    let body = json!({"agent": "desk", "ttl_seconds": 600});
    let created = call.server.post("/v1/demo-links", &call.key, &body).await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    created["url"].as_str().expect("url").to_owned()
}

/// Runs `call.mjs` and returns (exit success, summary, stderr).
async fn run_harness(call: &CallSetup, demo: &str, args: &[&str]) -> (bool, Value, String) {
    let run = Command::new("node")
        .arg(harness_dir().join("call.mjs"))
        .args([call.server.base.as_str(), demo])
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the browser harness finishes within 150 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .unwrap_or_else(|| panic!("no JSON summary on stdout:\n{stdout}\n{stderr}"));
    (output.status.success(), summary, stderr)
}

/// Page errors and CSP violations are bugs whatever the mode.
fn assert_clean(summary: &Value) {
    let errors = summary["errors"].as_array().expect("errors");
    for error in errors.iter().filter_map(Value::as_str) {
        assert!(
            !error.starts_with("pageerror") && !error.contains("Content Security Policy"),
            "{error}\n{summary}"
        );
    }
}

/// Runs the harness in error mode and checks the widget ended in `error` showing `expect`.
async fn expect_widget_error(call: &CallSetup, demo: &str, expect: &str, extra: &[&str]) {
    let dir = TempDir::new();
    let shot = dir.path.join("error.png");
    let shot = shot.to_str().expect("utf-8 path");
    let mut args = vec!["--mode", "error", "--expect", expect, "--screenshot", shot];
    args.extend_from_slice(extra);
    let (ok, summary, stderr) = run_harness(call, demo, &args).await;
    assert!(ok, "{summary}\n{stderr}");
    assert_eq!(
        summary["states"],
        json!(["idle", "connecting", "error"]),
        "{summary}"
    );
    assert!(
        summary["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{summary}"
    );
    assert_clean(&summary);
    assert!(Path::new(shot).exists(), "a screenshot of the error");
}

#[tokio::test]
async fn the_widget_says_clearly_when_the_microphone_is_denied() {
    if !browser_ready().await {
        return;
    }
    let _one = BROWSER.lock().await;
    let call = CallSetup::start().await;
    let demo = demo_url(&call).await;
    let expect = "Microphone access was denied\\. Allow the microphone";
    expect_widget_error(&call, &demo, expect, &["--deny-mic"]).await;
}

#[tokio::test]
async fn the_widget_says_clearly_when_the_network_is_down() {
    if !browser_ready().await {
        return;
    }
    let _one = BROWSER.lock().await;
    let call = CallSetup::start().await;
    let demo = demo_url(&call).await;
    let expect = "Network error: cannot reach the call service|You are offline";
    expect_widget_error(&call, &demo, expect, &["--abort-token"]).await;
}

#[tokio::test]
async fn the_widget_says_clearly_when_the_link_is_used_up() {
    if !browser_ready().await {
        return;
    }
    let _one = BROWSER.lock().await;
    let call = CallSetup::start().await;
    let demo = demo_url(&call).await;
    let token_url = format!(
        "{}{}",
        call.server.base,
        demo.replacen("/demo?", "/v1/demo-links/call-token?", 1)
    );
    for _ in 0..voxgate::demo_link::TOKENS_PER_MINUTE {
        let minted = call.server.client.post(&token_url).send().await;
        assert_eq!(minted.expect("sent").status(), reqwest::StatusCode::CREATED);
    }
    let expect = "Could not get a call token: too many calls from this demo link.*HTTP 429";
    expect_widget_error(&call, &demo, expect, &[]).await;
}

#[tokio::test]
async fn a_browser_calls_an_agent_through_the_widget_and_the_call_is_stored() {
    if !browser_ready().await {
        return;
    }
    // Absolute: Chromium opens it from its own working directory.
    let wav = Path::new(&fixtures_dir()).join("speech-16k.wav");
    let wav = std::fs::canonicalize(&wav).unwrap_or(wav);
    if !wav.exists() {
        skip(&format!(
            "the audio fixtures are missing from {}",
            fixtures_dir()
        ));
        return;
    }
    let _one = BROWSER.lock().await;
    let call = CallSetup::start().await;
    let demo = demo_url(&call).await;
    // Kept after the run (target/tmp), as the CI artefact of the widget mid-call.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("widget-mid-call.png");
    let args = [
        "--wav",
        wav.to_str().expect("utf-8 path"),
        "--screenshot",
        shot.to_str().expect("utf-8 path"),
    ];
    let (ok, summary, stderr) = run_harness(&call, &demo, &args).await;
    assert!(ok, "{summary}\n{stderr}");
    assert_clean(&summary);
    let states = summary["states"].as_array().expect("states");
    for state in ["connecting", "live", "ended"] {
        assert!(states.contains(&json!(state)), "{summary}");
    }
    assert_eq!(summary["reconnects"], 0, "{summary}");
    assert!(summary["lastError"].is_null(), "{summary}");
    let transcript = summary["transcript"].as_array().expect("transcript");
    for role in ["user", "assistant"] {
        assert!(
            transcript.iter().any(|line| line["role"] == role),
            "{summary}"
        );
    }
    let level = summary["maxRemoteLevel"].as_f64().unwrap_or_default();
    assert!(
        level > 0.01,
        "the agent's audio reached the page: {summary}"
    );
    let png = std::fs::read(&shot).expect("a screenshot mid-call");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");

    let call_id = summary["callId"]
        .as_str()
        .expect("the started event's call id");
    let path = format!("/v1/calls/{call_id}");
    let stored = call
        .server
        .json_until(&path, &call.key, |stored| {
            stored["call"]["status"] == "ended"
        })
        .await;
    assert_eq!(stored["call"]["end_reason"], "caller_hangup", "{stored}");
    assert_eq!(stored["call"]["agent"], "desk", "{stored}");
    let items = stored["transcript"].as_array().expect("stored transcript");
    for role in ["user", "assistant"] {
        assert!(items.iter().any(|item| item["role"] == role), "{stored}");
    }
}

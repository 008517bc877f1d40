//! A real WebRTC caller: aiortc (`tests/peers/webrtc_client.py`, run with `.venv/bin/python`)
//! talks to an agent served by the in-process simulator, hears it, barges in, and hangs up.
//! Skipped (loudly) without aiortc, unless `VOXGATE_TEST_REQUIRE_PEERS=1`.

use super::token;
use crate::{
    call_ws::{ended_call, rms_dbfs},
    sim::wav_pcm,
    support::{CallSetup, poll_until, skip},
};
use serde_json::Value;
use std::{path::Path, time::Duration};
use tokio::process::Command;
use voxgate::provider::sim::ScriptedTurn;

/// `.venv/bin/python` when it can import aiortc; otherwise a (loud) skip.
async fn aiortc_python() -> Option<std::path::PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import aiortc"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if !ready {
        skip(".venv/bin/python with aiortc is missing (.venv/bin/pip install aiortc)");
        return None;
    }
    Some(python)
}

/// Runs the aiortc peer against the test server; its JSON summary and the audio it received.
async fn run_peer(call: &CallSetup, python: &Path, args: &[&str]) -> (Value, Vec<u8>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = crate::sim::fixtures_dir();
    let dir = crate::support::TempDir::new();
    let out = dir.path.join("received.wav");
    let token = token(call, "webrtc").await;
    let run = Command::new(python)
        .arg(root.join("tests/peers/webrtc_client.py"))
        .args(["--base", &call.server.base, "--token", &token])
        .arg("--wav")
        .arg(Path::new(&fixtures).join("speech-16k.wav"))
        .arg("--out")
        .arg(&out)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the peer finishes within 2 minutes")
        .expect("the peer runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON summary:\n{stdout}\n{stderr}"));
    let audio = std::fs::read(&out)
        .map(|wav| wav[44.min(wav.len())..].to_vec())
        .unwrap_or_default();
    (summary, audio)
}

fn event_types(summary: &Value) -> Vec<String> {
    summary["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_webrtc_caller_hears_the_agent_and_the_call_is_stored() {
    let Some(python) = aiortc_python().await else {
        return;
    };
    if wav_pcm("speech-16k.wav").is_none() {
        return;
    }
    let call = CallSetup::start().await;
    let (summary, audio) = run_peer(&call, &python, &["--speech-seconds", "4.5"]).await;
    assert_eq!(summary["status"], 201, "{summary}");
    assert_eq!(summary["content_type"], "application/sdp", "{summary}");
    let answer = summary["answer"].as_str().unwrap_or_default();
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("m=audio") && !l.starts_with("m=audio 0")),
        "{answer}"
    );
    assert!(
        answer.contains("opus/48000") || answer.contains("PCMU/8000"),
        "{answer}"
    );
    assert_eq!(summary["connected"], true, "{summary}");
    assert!(
        !call.sim.log().vad.is_empty(),
        "the simulator heard the caller: {summary}"
    );
    let types = event_types(&summary);
    assert_eq!(
        types.first().map(String::as_str),
        Some("started"),
        "{types:?}"
    );
    assert!(types.iter().any(|t| t == "transcript"), "{types:?}");
    assert!(types.iter().any(|t| t == "ended"), "{types:?}");
    assert!(
        audio.len() > 96 * 500,
        "at least half a second of agent audio: {} bytes",
        audio.len()
    );
    assert!(rms_dbfs(&audio) > -50.0, "agent audio is not silent");
    assert_eq!(summary["delete_status"], 204, "{summary}");
    let call_id = summary["events"][0]["call_id"]
        .as_str()
        .expect("call id")
        .to_owned();
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["status"], "ended", "{stored}");
    let assistant = stored["transcript"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|item| item["role"] == "assistant")
                .cloned()
        })
        .unwrap_or_else(|| panic!("an assistant item is stored: {stored}"));
    assert!(
        assistant["played_ms"].as_i64().is_some_and(|ms| ms > 500),
        "{assistant}"
    );
}

#[tokio::test]
async fn barging_in_over_webrtc_truncates_to_the_audio_that_was_paced_out() {
    let Some(python) = aiortc_python().await else {
        return;
    };
    if wav_pcm("speech-16k.wav").is_none() {
        return;
    }
    let call = CallSetup::start().await;
    call.sim.script(vec![ScriptedTurn {
        reply_text: Some("Our opening hours are nine to five, Monday to Friday.".into()),
        reply_audio_ms: Some(6000),
        ..ScriptedTurn::default()
    }]);
    // 2 s of speech, silence (the turn ends, the agent answers), then talk over the answer.
    let args = [
        "--speech-seconds",
        "2",
        "--barge-in-at",
        "5.5",
        "--barge-in-seconds",
        "2",
        "--until",
        "clear",
        "--linger",
        "0.4",
    ];
    let (summary, _) = run_peer(&call, &python, &args).await;
    assert_eq!(summary["connected"], true, "{summary}");
    let types = event_types(&summary);
    assert!(types.iter().any(|t| t == "clear"), "{types:?}");
    let truncations = poll_until(|| call.sim.log().truncations, |t| !t.is_empty()).await;
    let truncated = truncations
        .first()
        .map(|t| t.audio_end_ms)
        .unwrap_or_else(|| panic!("no truncate: {summary}"));
    // What voxgate paced out is what the caller decoded (counted 0.4 s after `clear`) plus the
    // 4 frames (80 ms) aiortc's audio jitter buffer keeps until more packets come. Marks come
    // per 100 ms chunk, so the kept audio is at most one chunk (and a frame) short of it.
    let paced = summary["received_ms"].as_u64().unwrap_or_default() + 80;
    assert!(
        truncated > 500 && truncated < 5000,
        "truncated at {truncated} ms"
    );
    assert!(
        truncated <= paced + 20 && truncated + 120 >= paced,
        "truncated at {truncated} ms, paced out {paced} ms"
    );
}

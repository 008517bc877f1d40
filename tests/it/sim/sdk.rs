//! The official `openai` Python SDK (in `.venv`) drives the simulator and validates every frame
//! it receives against its pydantic types (`tests/peers/realtime_conformance.py`), and every body
//! and SSE chunk of the pipeline endpoints (`tests/peers/pipeline_conformance.py`).

use super::client::{fixtures_dir, start};
use crate::support::skip;
use std::{path::Path, time::Duration};
use tokio::process::Command;

/// Runs `tests/peers/<script>` against a fresh simulator and expects `OK: ` (skips without the
/// SDK or the fixtures).
async fn conformance(script: &str, fixture: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let sdk = Command::new(&python)
        .args(["-c", "import openai.types.realtime, websockets, pydantic"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if !sdk {
        skip(
            ".venv/bin/python with openai[realtime] is missing \
             (python3 -m venv .venv && .venv/bin/pip install 'openai[realtime]>=3')",
        );
        return;
    }
    let fixtures = fixtures_dir();
    if !Path::new(&fixtures).join(fixture).exists() {
        skip(&format!("the audio fixtures are missing from {fixtures}"));
        return;
    }
    let sim = start().await;
    let port = sim.local_addr().port().to_string();
    let run = Command::new(&python)
        .arg(root.join("tests/peers").join(script))
        .args(["--port", &port, "--fixtures", &fixtures])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the conformance script finishes within 3 minutes")
        .expect("the conformance script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK refused the simulator ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.starts_with("OK: "), "{stdout}");
}

#[tokio::test]
async fn the_official_openai_sdk_accepts_every_frame() {
    conformance("realtime_conformance.py", "speech-24k.wav").await;
}

#[tokio::test]
async fn the_official_openai_sdk_accepts_the_pipeline_endpoints() {
    conformance("pipeline_conformance.py", "utterance-booking-16k.wav").await;
}

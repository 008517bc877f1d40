//! baresip as the caller: it plays a speech WAV into the call and records what it hears, so
//! the test can check that the agent's greeting reached the phone, loud and long enough to be
//! speech rather than a click.

use super::{
    Trunk,
    peer::{free_port, tool},
};
use std::{path::Path, time::Duration};

const GREETER: &str = "+15550101";

/// What a recorded WAV (16-bit PCM) holds: its RMS (0.0-1.0) and how many seconds of it are
/// loud (20 ms windows above -40 dBFS).
fn wav_loudness(path: &Path) -> (f64, f64) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let rate = bytes
        .get(24..28)
        .map_or(8000, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .max(1);
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .map_or(&[][..], |at| bytes.get(at + 8..).unwrap_or_default());
    let samples: Vec<f64> = data
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect();
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    let rms = |part: &[f64]| (part.iter().map(|s| s * s).sum::<f64>() / part.len() as f64).sqrt();
    let window = (rate / 50) as usize;
    let loud = samples
        .chunks(window.max(1))
        .filter(|part| rms(part) > 0.01)
        .count();
    (rms(&samples), loud as f64 * 0.02)
}

fn config(dir: &Path, wav: &str) -> String {
    let rtp = free_port();
    format!(
        "sip_listen 127.0.0.1:{}\naudio_player aubridge,nil\naudio_source aufile,{wav}\n\
         audio_alert aubridge,nil\nausrc_srate 16000\nauplay_srate 16000\nausrc_channels 1\n\
         auplay_channels 1\nrtp_ports {rtp}-{}\nmodule_path /usr/lib/baresip/modules\n\
         module stdio.so\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
         module_app account.so\nmodule_app menu.so\nsnd_path {}\n",
        free_port(),
        rtp + 10,
        dir.join("rec").display()
    )
}

#[tokio::test]
async fn a_baresip_caller_hears_the_agents_greeting() {
    if !tool("baresip") {
        return;
    }
    let wav = format!("{}/speech-16k.wav", crate::sim::client::fixtures_dir());
    if !Path::new(&wav).exists() {
        return crate::support::skip(&format!("fixture {wav} is missing"));
    }
    let trunk = Trunk::with_greeter(GREETER).await;
    let dir = std::env::temp_dir().join(format!("voxgate-baresip-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("rec")).expect("dir");
    std::fs::write(
        dir.join("accounts"),
        "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA\n",
    )
    .expect("accounts");
    std::fs::write(dir.join("config"), config(&dir, &wav)).expect("config");
    let target = format!("/dial sip:{GREETER}@{}", trunk.addr());
    let mut command = tokio::process::Command::new("baresip");
    command
        .arg("-f")
        .arg(&dir)
        .args(["-e", &target, "-t", "12"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("baresip ends within 30 s")
        .expect("baresip runs");
    let heard = std::fs::read_dir(dir.join("rec"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
    let (rms, loud_seconds) = heard.as_deref().map_or((0.0, 0.0), wav_loudness);
    let log = String::from_utf8_lossy(&output.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        rms > 0.01,
        "the caller heard silence (RMS {rms:.4}); baresip said:\n{log}"
    );
    // The simulator's greeting lasts about a second; a click or a burst of noise would not.
    assert!(
        (0.5..30.0).contains(&loud_seconds),
        "the caller heard {loud_seconds:.2} s of audio, not a greeting; baresip said:\n{log}"
    );
}

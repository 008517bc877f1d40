//! One simulated WebRTC caller: a call token, a WHIP-style offer to `POST /v1/calls/webrtc`, then
//! a real str0m client on its own loopback UDP socket, speaking Opus at real-time pace.
//!
//! Same script as the Twilio caller (`caller.rs`): 3 s of fixture audio, 2 s of silence, repeated
//! until the duration is over, on a 20 ms clock that starts once ICE + DTLS are up; a frame sent a
//! full period late counts as late. Turn latency is the time from the end of a speech stretch to
//! the first non-silent agent frame after it. The call ends with `DELETE` on its `Location`.
//!
//! The fixture is Opus-encoded once per run and every caller sends those packets (from its own
//! offset), so that the load generator spends its CPU on connections, not on encoding the same
//! audio hundreds of times; voxgate still decodes every packet of every call.

mod peer;

use super::report::CallerStats;
use crate::{outbound::http_client, transport::webrtc::signal::CALL_SECRET_HEADER};
use peer::Peer;
use serde_json::{Value, json};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use str0m::change::SdpAnswer;
use voxgate_core::audio::{OpusEncoder, Resampler, SampleRate, g711};

const FRAME: Duration = Duration::from_millis(20);
/// Samples in 20 ms at 24 kHz.
const FRAME_SAMPLES: usize = 480;
const SPEECH_FRAMES: u64 = 150;
const SILENCE_FRAMES: u64 = 100;
/// ICE + DTLS must be up this long after the answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After the last frame, how long the caller keeps driving the connection before the `DELETE`.
const FLUSH: Duration = Duration::from_millis(100);
/// After the `DELETE`, how long the caller waits for the connection to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What every WebRTC caller of a run shares.
#[derive(Clone, Debug)]
pub(super) struct Callers {
    /// `http://127.0.0.1:PORT`
    pub(super) base: String,
    /// A key of the default tenant, to mint call tokens with.
    pub(super) api_key: String,
    /// The fixture as 20 ms Opus packets.
    pub(super) speech: Arc<EncodedFixture>,
}

/// The fixture as Opus packets (24 kHz, 32 kb/s CBR, as a browser would send), and one packet of
/// silence.
#[derive(Debug)]
pub(super) struct EncodedFixture {
    frames: Vec<Vec<u8>>,
    silence: Vec<u8>,
}

/// Encodes the fixture (8 kHz μ-law) as 20 ms Opus packets at 24 kHz.
pub(super) fn encode_fixture(ulaw: &[u8]) -> anyhow::Result<EncodedFixture> {
    let pcm = fixture_pcm(ulaw)?;
    let mut encoder = OpusEncoder::with_rate(SampleRate::Hz24k, 32_000, 5)?;
    let frames = pcm
        .chunks_exact(FRAME_SAMPLES)
        .map(|frame| encoder.encode(frame))
        .collect::<Result<Vec<_>, _>>()?;
    let silence =
        OpusEncoder::with_rate(SampleRate::Hz24k, 32_000, 5)?.encode(&[0; FRAME_SAMPLES])?;
    Ok(EncodedFixture { frames, silence })
}

/// The fixture (8 kHz μ-law) as PCM16 at 24 kHz.
fn fixture_pcm(ulaw: &[u8]) -> anyhow::Result<Vec<i16>> {
    let mut narrow = Vec::with_capacity(ulaw.len());
    g711::ulaw_decode_into(ulaw, &mut narrow);
    let mut resampler = Resampler::new(SampleRate::Hz8k, SampleRate::Hz24k)?;
    let mut wide = Vec::with_capacity(narrow.len() * 3);
    resampler.process(&narrow, &mut wide);
    anyhow::ensure!(wide.len() > FRAME_SAMPLES * 2, "the fixture is too short");
    Ok(wide)
}

/// Places one call; never panics on the server's behaviour, it records it.
pub(super) async fn place(index: usize, callers: &Callers, duration: Duration) -> CallerStats {
    match call(index, callers, duration).await {
        Ok(stats) => stats,
        Err(error) => CallerStats::failed(&format!("{error:#}")),
    }
}

async fn call_token(callers: &Callers) -> anyhow::Result<String> {
    let minted: Value = http_client()
        .post(format!("{}/v1/call-tokens", callers.base))
        .bearer_auth(&callers.api_key)
        .json(&json!({"agent": "loadgen", "transport": "webrtc"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    minted["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no call token minted"))
}

/// Where a live call is, and the secret that ends it (from the server's `201`).
struct Live {
    location: String,
    secret: String,
}

async fn post_offer(
    callers: &Callers,
    token: &str,
    offer: String,
) -> anyhow::Result<(SdpAnswer, Live)> {
    let response = http_client()
        .post(format!("{}/v1/calls/webrtc", callers.base))
        .header(reqwest::header::CONTENT_TYPE, "application/sdp")
        .bearer_auth(token)
        .body(offer)
        .send()
        .await?;
    let status = response.status();
    if status != reqwest::StatusCode::CREATED {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("the offer was refused: {status} {body}");
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no {name} header in the 201"))
    };
    let location = header(reqwest::header::LOCATION.as_str())?;
    let secret = header(CALL_SECRET_HEADER)?;
    let answer = SdpAnswer::from_sdp_string(&response.text().await?)?;
    Ok((answer, Live { location, secret }))
}

async fn hang_up(callers: &Callers, live: &Live) -> anyhow::Result<()> {
    http_client()
        .delete(format!("{}{}", callers.base, live.location))
        .bearer_auth(&live.secret)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn call(index: usize, callers: &Callers, duration: Duration) -> anyhow::Result<CallerStats> {
    let token = call_token(callers).await?;
    let (mut peer, offer) = Peer::offer().await?;
    let (answer, live) = post_offer(callers, &token, offer).await?;
    peer.accept(answer)?;
    // The stored call is found by its id (WebRTC calls carry no caller number).
    let call_id = live.location.rsplit('/').next().unwrap_or_default();
    let mut stats = CallerStats {
        caller: call_id.to_owned(),
        ..CallerStats::default()
    };
    let connected = peer.run_until(Instant::now() + CONNECT_TIMEOUT, |peer| peer.is_connected());
    if !connected.await? {
        let _ = hang_up(callers, &live).await;
        anyhow::bail!("no ICE + DTLS connection within {CONNECT_TIMEOUT:?}");
    }
    let speech = &callers.speech.frames;
    let offset = (index * 7919) % speech.len();
    let frames = u64::try_from(duration.as_millis() / FRAME.as_millis())?;
    let begun = Instant::now();
    for seq in 0..frames {
        let scheduled = begun + FRAME * u32::try_from(seq)?;
        peer.run_until(scheduled, |_| false).await?;
        if scheduled.elapsed() > FRAME {
            stats.late_frames += 1;
        }
        let cycle = seq % (SPEECH_FRAMES + SILENCE_FRAMES);
        let packet = if cycle < SPEECH_FRAMES {
            &speech[(offset + usize::try_from(seq)?) % speech.len()]
        } else {
            &callers.speech.silence
        };
        if cycle == SPEECH_FRAMES + SILENCE_FRAMES - 1 {
            stats.utterances += 1;
        }
        if cycle == SPEECH_FRAMES {
            peer.speech_ended(Instant::now());
        }
        peer.send_audio(seq, packet)?;
        stats.frames_sent += 1;
    }
    // Let the last packets leave (str0m may hold them until its next timeout) before hanging up.
    peer.run_until(Instant::now() + FLUSH, |_| false).await?;
    hang_up(callers, &live).await?;
    let _ = peer
        .run_until(Instant::now() + CLOSE_WAIT, |peer| !peer.is_alive())
        .await;
    let heard = peer.into_heard();
    stats.agent_frames = heard.agent_frames;
    stats.turn_latencies = heard.turn_latencies;
    stats.completed = heard.started;
    if !heard.started {
        stats.error = Some("no `started` event on the data channel".to_owned());
    }
    Ok(stats)
}

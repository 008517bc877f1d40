//! One simulated phone caller: Twilio's voice webhook, then a media stream at real-time pace.
//!
//! The caller speaks 3 s of fixture audio, then keeps 2 s of silence, and repeats until its
//! duration is over. Frames go out on a 20 ms clock; a frame sent a full period late counts as
//! late. Turn latency is the time from the end of a speech stretch to the first agent audio after
//! it. Marks are echoed at once, as if playback were instant.

use super::{report::CallerStats, server::Target};
use crate::http::telephony::twilio_signature;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio_tungstenite::{connect_async, tungstenite::Message};

const FRAME: Duration = Duration::from_millis(20);
const FRAME_BYTES: usize = 160;
const SPEECH_FRAMES: u64 = 150;
const SILENCE_FRAMES: u64 = 100;

pub(super) use crate::outbound::http_client;

/// Places one call; never panics on the server's behaviour, it records it.
pub(super) async fn place(
    index: usize,
    target: &Target,
    audio: &[u8],
    duration: Duration,
) -> CallerStats {
    match call(index, target, audio, duration).await {
        Ok(stats) => stats,
        Err(error) => CallerStats::failed(&error.to_string()),
    }
}

/// The number caller `index` calls from.
fn caller_number(index: usize) -> String {
    format!("+1555{index:07}")
}

async fn token(index: usize, target: &Target) -> anyhow::Result<String> {
    let url = format!("{}/v1/telephony/twilio/voice?agent=loadgen", target.base);
    let params = vec![
        ("CallSid".to_owned(), format!("CA{index:032}")),
        ("From".to_owned(), caller_number(index)),
    ];
    let signature = twilio_signature(&target.twilio_token, &url, &params);
    let twiml = http_client()
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let marker = "<Parameter name=\"token\" value=\"";
    let start = twiml
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("no token in TwiML"))?;
    let rest = &twiml[start + marker.len()..];
    Ok(rest.split('"').next().unwrap_or_default().to_owned())
}

async fn call(
    index: usize,
    target: &Target,
    audio: &[u8],
    duration: Duration,
) -> anyhow::Result<CallerStats> {
    let token = token(index, target).await?;
    let url = format!(
        "{}/v1/telephony/twilio/stream",
        target.base.replacen("http", "ws", 1)
    );
    let (socket, _) = connect_async(url).await?;
    let (mut sink, mut stream) = socket.split();
    let sid = format!("MZ{index:032}");
    sink.send(Message::text(
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
    ))
    .await?;
    let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": sid,
        "start": {"streamSid": sid, "customParameters": {"token": token},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
    sink.send(Message::text(start.to_string())).await?;
    let speech_ended: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (marks_tx, mut marks_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reader_ended = speech_ended.clone();
    let reader = tokio::spawn(async move {
        let mut stats = CallerStats::default();
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            match frame["event"].as_str() {
                Some("media") => {
                    stats.agent_frames += 1;
                    let ended = reader_ended.lock().ok().and_then(|mut e| e.take());
                    if let Some(ended) = ended {
                        stats.turn_latencies.push(ended.elapsed());
                    }
                }
                Some("mark") => {
                    let _ = marks_tx.send(frame["mark"].clone());
                }
                _ => {}
            }
        }
        stats
    });
    let mut stats = CallerStats {
        caller: caller_number(index),
        ..CallerStats::default()
    };
    let offset = (index * 7919 * FRAME_BYTES) % audio.len();
    let mut ticker = tokio::time::interval(FRAME);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let frames = u64::try_from(duration.as_millis() / FRAME.as_millis())?;
    let begun = Instant::now();
    for seq in 0..frames {
        let scheduled = begun + FRAME * u32::try_from(seq)?;
        ticker.tick().await;
        if scheduled.elapsed() > FRAME {
            stats.late_frames += 1;
        }
        let cycle = seq % (SPEECH_FRAMES + SILENCE_FRAMES);
        let payload = if cycle < SPEECH_FRAMES {
            let at = (offset + usize::try_from(seq)? * FRAME_BYTES) % (audio.len() - FRAME_BYTES);
            &audio[at..at + FRAME_BYTES]
        } else {
            &[0xFF; FRAME_BYTES][..]
        };
        if cycle == SPEECH_FRAMES + SILENCE_FRAMES - 1 {
            stats.utterances += 1;
        }
        if cycle == SPEECH_FRAMES
            && let Ok(mut ended) = speech_ended.lock()
        {
            *ended = Some(Instant::now());
        }
        let media = json!({"event": "media", "sequenceNumber": (seq + 2).to_string(), "streamSid": sid,
            "media": {"track": "inbound", "chunk": seq.to_string(), "payload": BASE64.encode(payload)}});
        sink.send(Message::text(media.to_string())).await?;
        stats.frames_sent += 1;
        while let Ok(mark) = marks_rx.try_recv() {
            sink.send(Message::text(
                json!({"event": "mark", "streamSid": sid, "mark": mark}).to_string(),
            ))
            .await?;
        }
    }
    let stop = json!({"event": "stop", "streamSid": sid, "stop": {}});
    sink.send(Message::text(stop.to_string())).await?;
    let heard = tokio::time::timeout(Duration::from_secs(10), reader).await;
    let heard = heard.map_err(|_| anyhow::anyhow!("the call did not end after stop"))??;
    stats.agent_frames = heard.agent_frames;
    stats.turn_latencies = heard.turn_latencies;
    stats.completed = true;
    Ok(stats)
}

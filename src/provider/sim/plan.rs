//! What one simulated response says and how it fails: a scripted turn, or the default agent that
//! echoes the caller's last turn back (or greets when there is nothing to echo).

use super::{
    codec,
    control::{ScriptedTurn, TurnFaults},
};
use serde_json::Value;
use tokio::time::Duration;

/// Audio per `response.output_audio.delta`.
pub(super) const CHUNK_MS: u64 = 100;
/// Wall time between deltas: five times faster than real time, as the service streams ahead.
pub(super) const CHUNK_INTERVAL: Duration = Duration::from_millis(20);
const ECHO: &str = "You said something; here it is back.";
/// What the default agent says when there is nothing to echo.
pub(super) const GREETING: &str = "Hello from the voxgate simulator.";
/// What a refusal says.
pub(super) const REFUSAL: &str = "I'm sorry, but I can't help with that.";

/// What a response will say and how it will fail.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) source: &'static str,
    pub(super) transcript: String,
    /// Samples at the output format's rate.
    pub(super) audio: Vec<i16>,
    pub(super) message: bool,
    pub(super) tool_call: Option<(String, String)>,
    pub(super) faults: TurnFaults,
}

impl Plan {
    /// The plan for a scripted turn (if any) or the default agent, which echoes `echo` (the
    /// caller's last turn, at `rate`) or greets when there is nothing to echo.
    pub(super) fn new(turn: Option<ScriptedTurn>, echo: Option<Vec<i16>>, rate: u32) -> Self {
        let scripted = turn.is_some();
        let turn = turn.unwrap_or_default();
        let tool_call = turn
            .tool_call
            .map(|call| (call.name, arguments_text(call.arguments)));
        let spoken = match turn.faults.refusal {
            true => Some(REFUSAL.to_owned()),
            false => turn.reply_text,
        };
        let (source, transcript, audio) = match spoken {
            Some(text) => {
                let ms = turn.reply_audio_ms.unwrap_or_else(|| speaking_ms(&text));
                ("script", text, codec::tone(ms, rate))
            }
            None if tool_call.is_some() => ("script", String::new(), Vec::new()),
            None => {
                let (source, text, audio) = match echo {
                    Some(audio) => ("echo", ECHO, audio),
                    None => (
                        "greeting",
                        GREETING,
                        codec::tone(speaking_ms(GREETING), rate),
                    ),
                };
                let audio = match turn.reply_audio_ms {
                    Some(ms) => codec::tone(ms, rate),
                    None => audio,
                };
                (
                    if scripted { "script" } else { source },
                    text.to_owned(),
                    audio,
                )
            }
        };
        Self {
            source,
            message: !transcript.is_empty() || !audio.is_empty(),
            transcript,
            audio,
            tool_call,
            faults: turn.faults,
        }
    }
}

/// A scripted call's arguments as sent: an object as its JSON text, a string verbatim.
pub(super) fn arguments_text(arguments: Value) -> String {
    match arguments {
        Value::String(text) => text,
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// How long a text takes to say: about 60 ms per character (0.4 s to 30 s).
pub(super) fn speaking_ms(text: &str) -> u64 {
    (text.chars().count() as u64 * 60).clamp(400, 30_000)
}

/// `text` cut into `parts` pieces at word boundaries, words first (the transcript runs ahead of
/// the audio, as the service's does); the pieces concatenate to `text`.
pub(super) fn split(text: &str, parts: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let parts = parts.max(1);
    (0..parts)
        .map(|i| {
            words[(i * words.len()).div_ceil(parts)..((i + 1) * words.len()).div_ceil(parts)]
                .concat()
        })
        .collect()
}

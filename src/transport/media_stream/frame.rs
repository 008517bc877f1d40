//! Carrier media-stream frames, Twilio and Telnyx dialects: parsing what the carrier sends and
//! building what we send back. Pure functions over JSON text.
//!
//! Numeric fields may arrive as strings (Twilio always does this), so they are read leniently.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use std::collections::HashMap;
use voxgate_core::session::AudioFormat;

/// Which carrier's field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Twilio Media Streams (`streamSid`, `sequenceNumber`, `customParameters`).
    Twilio,
    /// Telnyx media streaming (`stream_id`, `sequence_number`, `custom_parameters`).
    Telnyx,
}

/// A frame from the carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// The socket is up (always first).
    Connected,
    /// The stream started.
    Start {
        /// The carrier's stream id, echoed in everything we send.
        stream_id: String,
        /// Parameters set in the TwiML/TeXML (`token`, `caller`).
        parameters: HashMap<String, String>,
        /// Audio encoding of both directions.
        format: AudioFormat,
    },
    /// Caller audio.
    Media {
        /// The media frame's number (`media.chunk`), when present.
        seq: Option<u64>,
        /// Raw G.711 bytes.
        payload: Vec<u8>,
    },
    /// Audio before our mark with this name has been played.
    Mark {
        /// The mark name.
        name: String,
    },
    /// A keypad digit.
    Dtmf {
        /// The digit.
        digit: char,
    },
    /// The stream ended (the call hung up).
    Stop,
    /// A frame type we do not use.
    Other,
}

/// A frame that cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad media stream frame: {0}")]
pub struct FrameError(pub String);

fn bad(message: impl Into<String>) -> FrameError {
    FrameError(message.into())
}

fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl Dialect {
    /// Stable transport name for call records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Telnyx => "telnyx",
        }
    }

    fn key(self, twilio: &'static str, telnyx: &'static str) -> &'static str {
        match self {
            Self::Twilio => twilio,
            Self::Telnyx => telnyx,
        }
    }

    /// Parses one text frame.
    pub fn parse(self, text: &str) -> Result<Inbound, FrameError> {
        let frame: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let event = frame["event"].as_str().ok_or_else(|| bad("no `event`"))?;
        Ok(match event {
            "connected" => Inbound::Connected,
            "start" => self.start(&frame)?,
            "media" => {
                let payload = frame["media"]["payload"]
                    .as_str()
                    .ok_or_else(|| bad("media without payload"))?;
                let payload = BASE64
                    .decode(payload)
                    .map_err(|e| bad(format!("media payload: {e}")))?;
                // `media.chunk` counts media frames only; the top-level sequence number counts
                // every message (marks, DTMF), so it has gaps.
                let seq = number(&frame["media"]["chunk"]);
                Inbound::Media { seq, payload }
            }
            "mark" => Inbound::Mark {
                name: frame["mark"]["name"]
                    .as_str()
                    .ok_or_else(|| bad("mark without name"))?
                    .to_owned(),
            },
            "dtmf" => {
                let digit = frame["dtmf"]["digit"]
                    .as_str()
                    .and_then(|d| d.chars().next());
                Inbound::Dtmf {
                    digit: digit.ok_or_else(|| bad("dtmf without digit"))?,
                }
            }
            "stop" => Inbound::Stop,
            _ => Inbound::Other,
        })
    }

    fn start(self, frame: &Value) -> Result<Inbound, FrameError> {
        let start = &frame["start"];
        let stream_id = frame[self.key("streamSid", "stream_id")]
            .as_str()
            .or_else(|| start[self.key("streamSid", "stream_id")].as_str())
            .ok_or_else(|| bad("start without a stream id"))?
            .to_owned();
        let parameters = start[self.key("customParameters", "custom_parameters")]
            .as_object()
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let encoding = start[self.key("mediaFormat", "media_format")]["encoding"]
            .as_str()
            .unwrap_or("audio/x-mulaw");
        let format = match encoding.to_ascii_lowercase().as_str() {
            "audio/x-mulaw" | "pcmu" => AudioFormat::Pcmu,
            "audio/x-alaw" | "pcma" => AudioFormat::Pcma,
            other => return Err(bad(format!("unsupported encoding `{other}`"))),
        };
        Ok(Inbound::Start {
            stream_id,
            parameters,
            format,
        })
    }

    fn stream_field(self, stream_id: &str) -> (&'static str, Value) {
        (self.key("streamSid", "stream_id"), json!(stream_id))
    }

    /// Agent audio to play.
    pub fn media(self, stream_id: &str, payload: &[u8]) -> String {
        let (key, id) = self.stream_field(stream_id);
        json!({"event": "media", key: id, "media": {"payload": BASE64.encode(payload)}}).to_string()
    }

    /// A mark to be echoed once the audio before it has played.
    pub fn mark(self, stream_id: &str, name: &str) -> String {
        let (key, id) = self.stream_field(stream_id);
        json!({"event": "mark", key: id, "mark": {"name": name}}).to_string()
    }

    /// Drop buffered agent audio (barge-in).
    pub fn clear(self, stream_id: &str) -> String {
        let (key, id) = self.stream_field(stream_id);
        json!({"event": "clear", key: id}).to_string()
    }
}

#[cfg(test)]
mod tests;

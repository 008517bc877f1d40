//! The native WebSocket protocol's messages (documented in docs/protocol.md) and PCM16 byte
//! conversion. Pure functions: fuzzable and testable without a socket.

use serde::{Deserialize, Serialize};
use voxgate_core::session::{ClientCommand, EndReason};

/// Control messages a client sends as text frames.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: the PCM16 sample rate of both directions (16000 or 24000).
    Start {
        /// Samples per second.
        sample_rate: u32,
    },
    /// Everything before the server's mark with this id has been played.
    Mark {
        /// The mark id.
        mark: u64,
    },
    /// A keypad digit.
    Dtmf {
        /// `0`-`9`, `*`, `#`.
        digit: char,
    },
    /// The caller hangs up. (A struct variant, so that unknown fields are refused.)
    Hangup {},
}

/// Events the server sends as text frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The call is up.
    Started {
        /// Call id (for `GET /v1/calls/{id}`).
        call_id: String,
        /// Agent name.
        agent: String,
        /// Sample rate of audio both ways.
        sample_rate: u32,
    },
    /// The call's current mode.
    Mode {
        /// `realtime` or `pipeline`.
        mode: &'static str,
    },
    /// Follows agent audio: echo it back once played.
    Mark {
        /// The mark id.
        mark: u64,
    },
    /// Stop playing and drop queued agent audio (the caller barged in).
    Clear,
    /// Whether the agent is speaking.
    AgentSpeaking {
        /// True while agent audio is playing.
        speaking: bool,
    },
    /// A transcript line.
    Transcript {
        /// `user` or `assistant`.
        role: &'static str,
        /// The text (assistant: what was played).
        text: String,
        /// Always true for now: lines are sent complete.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// The call ended.
    Ended {
        /// Why.
        reason: &'static str,
    },
    /// Something was wrong; the call may end.
    Error {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
}

impl ServerMessage {
    /// The JSON text of this message.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
    }

    /// The control message for a session command (audio is sent separately, as binary).
    pub fn from_command(command: &ClientCommand) -> Option<Self> {
        Some(match command {
            ClientCommand::Audio { mark, .. } => Self::Mark { mark: *mark },
            ClientCommand::ClearPlayback => Self::Clear,
            ClientCommand::AgentSpeaking(speaking) => Self::AgentSpeaking {
                speaking: *speaking,
            },
            ClientCommand::Transcript {
                role,
                text,
                is_final,
            } => Self::Transcript {
                role: role.as_str(),
                text: text.clone(),
                is_final: *is_final,
            },
            ClientCommand::Mode(path) => Self::Mode { mode: path.mode() },
            // A WebSocket call cannot be transferred; the session never offers it here.
            ClientCommand::Transfer { .. } => return None,
            ClientCommand::Ended(reason) => Self::Ended {
                reason: EndReason::as_str(*reason),
            },
        })
    }
}

/// PCM16 little-endian bytes to samples; `None` for an odd byte count.
pub fn pcm16_from_bytes(bytes: &[u8]) -> Option<Vec<i16>> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
    )
}

/// Samples to PCM16 little-endian bytes.
pub fn pcm16_to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_parse_strictly() {
        let start: ClientMessage =
            serde_json::from_str(r#"{"type":"start","sample_rate":16000}"#).expect("start");
        assert_eq!(start, ClientMessage::Start { sample_rate: 16000 });
        let mark: ClientMessage =
            serde_json::from_str(r#"{"type":"mark","mark":7}"#).expect("mark");
        assert_eq!(mark, ClientMessage::Mark { mark: 7 });
        for bad in [
            r#"{"type":"start"}"#,
            r#"{"type":"mark","mark":"7"}"#,
            r#"{"type":"hangup","why":"bored"}"#,
            r#"{"type":"teleport"}"#,
            "not json",
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_messages_have_stable_shapes() {
        let text = ServerMessage::Transcript {
            role: "assistant",
            text: "Hi".into(),
            is_final: true,
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"transcript","role":"assistant","text":"Hi","final":true}"#
        );
        assert_eq!(ServerMessage::Clear.to_text(), r#"{"type":"clear"}"#);
    }

    #[test]
    fn pcm16_round_trips_and_odd_lengths_are_refused() {
        let samples = vec![0, 1, -1, i16::MAX, i16::MIN];
        assert_eq!(pcm16_from_bytes(&pcm16_to_bytes(&samples)), Some(samples));
        assert_eq!(pcm16_from_bytes(&[1, 2, 3]), None);
    }
}

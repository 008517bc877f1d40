//! Faults of the pipeline endpoints (`POST /sim/pipeline_faults`) and their log entries. Owns
//! which request gets a fault and how the fault is named in the log; how a fault is carried out
//! is the endpoints' and `stream`'s business.

use serde::{Deserialize, Serialize};

/// One of the three OpenAI-compatible endpoints of the async pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `POST /v1/audio/transcriptions` (speech-to-text).
    Transcriptions,
    /// `POST /v1/chat/completions` (the text model).
    Chat,
    /// `POST /v1/audio/speech` (text-to-speech).
    Speech,
}

impl Endpoint {
    /// The name in [`PipelineRequestLog::endpoint`].
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Transcriptions => "transcriptions",
            Self::Chat => "chat",
            Self::Speech => "speech",
        }
    }
}

/// `POST /sim/pipeline_faults`: faults of the pipeline endpoints (replaces the previous setting;
/// `/sim/reset` clears it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFaults {
    /// `POST /v1/audio/transcriptions`.
    #[serde(default)]
    pub stt: EndpointFaults,
    /// `POST /v1/chat/completions`.
    #[serde(default)]
    pub llm: EndpointFaults,
    /// `POST /v1/audio/speech`.
    #[serde(default)]
    pub tts: EndpointFaults,
}

impl PipelineFaults {
    /// The fault the next request to `endpoint` gets, if any; counts it against `count`.
    pub(super) fn take(&mut self, endpoint: Endpoint) -> Option<EndpointFaults> {
        let faults = match endpoint {
            Endpoint::Transcriptions => &mut self.stt,
            Endpoint::Chat => &mut self.llm,
            Endpoint::Speech => &mut self.tts,
        };
        faults.label()?;
        match &mut faults.count {
            Some(0) => return None,
            Some(left) => *left -= 1,
            None => {}
        }
        Some(faults.clone())
    }
}

/// Faults of one pipeline endpoint. Chunks are SSE events of a streamed chat completion
/// (`data: [DONE]` included) or 100 ms pieces of speech audio (the first with the WAV header);
/// the stall and drop faults do nothing to unstreamed answers (transcriptions, `stream: false`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFaults {
    /// Answer with this HTTP status (429, 500, 503, ...) instead of working.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    #[serde(default)]
    pub retry_after_s: Option<u64>,
    /// Only the next N requests get the fault, then the endpoint works normally; absent: until
    /// changed.
    #[serde(default)]
    pub count: Option<u32>,
    /// Delay before the response (its headers) is sent.
    #[serde(default)]
    pub first_byte_delay_ms: Option<u64>,
    /// Streamed endpoints: pause after this many chunks...
    #[serde(default)]
    pub stall_after_chunks: Option<u32>,
    /// ...for this long; absent: for ever (until the client goes away).
    #[serde(default)]
    pub stall_for_ms: Option<u64>,
    /// Streamed endpoints: abort the connection after this many chunks (no end of stream).
    #[serde(default)]
    pub drop_after_chunks: Option<u32>,
}

impl EndpointFaults {
    /// The fault as the log names it (`status=429, retry_after_s=2`), or `None` when there is
    /// none to apply.
    pub(super) fn label(&self) -> Option<String> {
        let fields = [
            ("status", self.status.map(u64::from)),
            ("retry_after_s", self.status.and(self.retry_after_s)),
            ("first_byte_delay_ms", self.first_byte_delay_ms),
            ("stall_after_chunks", self.stall_after_chunks.map(u64::from)),
            (
                "stall_for_ms",
                self.stall_after_chunks.and(self.stall_for_ms),
            ),
            ("drop_after_chunks", self.drop_after_chunks.map(u64::from)),
        ];
        let parts: Vec<String> = fields
            .iter()
            .filter_map(|(name, value)| value.map(|value| format!("{name}={value}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One request to a pipeline endpoint, refused ones included.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PipelineRequestLog {
    /// `transcriptions`, `chat` or `speech`.
    pub endpoint: String,
    /// The request's `model` (empty when the request was refused before it was read).
    pub model: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The transcript returned, the reply text (or the function called), the speech input, or
    /// the error message.
    pub detail: String,
    /// The injected fault ([`EndpointFaults`] fields, `status=429, retry_after_s=2`), if any.
    pub fault: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_applies_that_many_times_then_the_endpoint_works() {
        let mut faults = PipelineFaults {
            llm: EndpointFaults {
                status: Some(429),
                retry_after_s: Some(2),
                count: Some(2),
                ..EndpointFaults::default()
            },
            ..PipelineFaults::default()
        };
        assert!(faults.take(Endpoint::Transcriptions).is_none());
        let first = faults.take(Endpoint::Chat).expect("first fault");
        assert_eq!(
            first.label().as_deref(),
            Some("status=429, retry_after_s=2")
        );
        assert!(faults.take(Endpoint::Chat).is_some());
        assert!(faults.take(Endpoint::Chat).is_none());
    }
}

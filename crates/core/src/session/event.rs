//! What goes into a session (client and provider events) and what comes out (outputs).
//!
//! Events are provider- and transport-neutral: a transport turns its wire frames into
//! [`ClientEvent`]s, a provider client turns its protocol into [`ProviderEvent`]s, and the driver
//! carries each [`Output`] to where it belongs. Nothing here knows JSON, sockets or clocks.

use crate::incident::{FailureMode, Severity};
use std::time::{Duration, Instant};

/// How audio bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioFormat {
    /// 16-bit signed little-endian mono PCM at the given rate.
    Pcm16 {
        /// Samples per second.
        rate: u32,
    },
    /// G.711 μ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
}

impl AudioFormat {
    /// Bytes per millisecond of audio.
    pub fn bytes_per_ms(self) -> u32 {
        match self {
            Self::Pcm16 { rate } => rate / 1000 * 2,
            Self::Pcmu | Self::Pcma => 8,
        }
    }

    /// Whole milliseconds of audio in `bytes` bytes.
    pub fn duration_ms(self, bytes: usize) -> u64 {
        let per_ms = u64::from(self.bytes_per_ms().max(1));
        bytes as u64 / per_ms
    }
}

/// A piece of audio in a known format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioChunk {
    /// Encoding of `data`.
    pub format: AudioFormat,
    /// The encoded audio.
    pub data: Vec<u8>,
}

impl AudioChunk {
    /// Whole milliseconds of audio in this chunk.
    pub fn duration_ms(&self) -> u64 {
        self.format.duration_ms(self.data.len())
    }
}

/// Identifies one playback mark the session asked the transport to report back.
pub type MarkId = u64;

/// Something the caller's side did.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// Caller audio, in the call's audio format.
    Audio(AudioChunk),
    /// The client has played everything sent before the mark with this id.
    MarkPlayed(MarkId),
    /// A DTMF digit.
    Dtmf(char),
    /// The caller hung up.
    Hangup,
}

/// Whether an error is worth retrying, decided where it was born.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: overload, timeouts, 5xx, rate limits.
    Retryable,
    /// Will not heal by retrying: bad key, no quota, invalid request.
    Terminal,
}

/// How a provider response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStatus {
    /// Finished normally.
    Completed,
    /// Cancelled (barge-in or explicit cancel).
    Cancelled,
    /// Failed on the provider side.
    Failed,
    /// Stopped early (token limit, content filter).
    Incomplete,
}

/// Token usage of one response, as the provider reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens (text and audio).
    pub input_tokens: u64,
    /// Output tokens (text and audio).
    pub output_tokens: u64,
}

/// Something the realtime provider did.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderEvent {
    /// The provider session is configured and ready.
    Ready,
    /// The provider's VAD heard the caller start speaking.
    SpeechStarted,
    /// The provider's VAD heard the caller stop speaking.
    SpeechStopped,
    /// The caller's turn, transcribed.
    UserTranscript {
        /// What the caller said.
        text: String,
    },
    /// A response began.
    ResponseStarted {
        /// Provider's response id.
        response_id: String,
    },
    /// Agent audio for an assistant item.
    AudioDelta {
        /// Provider's item id.
        item_id: String,
        /// The audio.
        chunk: AudioChunk,
    },
    /// Agent transcript text for an assistant item.
    TranscriptDelta {
        /// Provider's item id.
        item_id: String,
        /// Text to append.
        delta: String,
    },
    /// The model called a tool; its arguments are complete.
    FunctionCall {
        /// Provider's call id, echoed with the result.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The arguments as JSON text (not yet validated).
        arguments: String,
    },
    /// A response ended.
    ResponseDone {
        /// Provider's response id.
        response_id: String,
        /// How it ended.
        status: ResponseStatus,
        /// Tokens used, when reported.
        usage: Option<Usage>,
    },
    /// The provider's rate-limit headroom (`rate_limits.updated`).
    RateLimits(Vec<RateLimit>),
    /// The provider reported an error; the connection may still be open.
    Error {
        /// Retry class.
        class: ErrorClass,
        /// Provider's error code (`rate_limit_exceeded`, `server_error`, ...).
        code: String,
    },
    /// A renewed provider session (see [`Output::RenewProvider`]) is connected and seeded.
    Renewed,
    /// Renewing the provider session failed; the old one is still in use.
    RenewFailed,
    /// The provider connection closed.
    Closed {
        /// Retry class of the cause.
        class: ErrorClass,
    },
}

/// Which rate limit a reading is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Requests per window.
    Requests,
    /// Tokens per window.
    Tokens,
}

/// One rate-limit reading from the provider.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Which limit.
    pub kind: RateLimitKind,
    /// The limit per window.
    pub limit: u64,
    /// What is left in the current window.
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_seconds: f64,
}

/// Something to send to the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderCommand {
    /// Append caller audio to the provider's input buffer.
    AppendAudio(AudioChunk),
    /// Ask for a response; `instructions` override the session's for this response only.
    CreateResponse {
        /// Per-response instructions.
        instructions: Option<String>,
    },
    /// Cancel the response in progress.
    CancelResponse,
    /// Cut an assistant item to what the caller actually heard.
    Truncate {
        /// Provider's item id.
        item_id: String,
        /// Milliseconds of the item's audio that were played.
        audio_end_ms: u64,
    },
    /// Add a past conversation item to a fresh provider session (re-seeding).
    SeedItem {
        /// Who said it.
        role: Role,
        /// What was said (assistant: what was played).
        text: String,
    },
    /// A tool's result for a call the model made.
    ToolOutput {
        /// The provider's call id.
        call_id: String,
        /// The result, usually JSON text.
        output: String,
    },
    /// Close the provider session.
    Close,
}

/// A tool call for the driver to run; its result comes back through
/// [`crate::session::Session::handle_tool_result`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRequest {
    /// The provider's call id.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// Something to send to the caller's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand {
    /// Agent audio to play, followed by a mark to report back once played.
    Audio {
        /// The audio.
        chunk: AudioChunk,
        /// Report this mark when everything up to here has been played.
        mark: MarkId,
    },
    /// Drop all queued agent audio now (barge-in).
    ClearPlayback,
    /// Whether the agent is speaking.
    AgentSpeaking(bool),
    /// A transcript line; `is_final` once the item is complete.
    Transcript {
        /// `user` or `assistant`.
        role: Role,
        /// The text so far (final: as played).
        text: String,
        /// True once the item is complete.
        is_final: bool,
    },
    /// The call now runs on another path (realtime or the async pipeline).
    Mode(Path),
    /// Hand the caller over to `target_uri` (a SIP URI); [`ClientCommand::Ended`] with
    /// [`EndReason::Transferred`] follows. Only sent when the session was configured with
    /// `can_transfer`; other transports ignore it.
    Transfer {
        /// Where to send the caller, e.g. `sip:billing@pbx.example.com`.
        target_uri: String,
    },
    /// The call is over.
    Ended(EndReason),
}

/// A way the call reaches a model: one of the agent's realtime providers (by position in its
/// list), or the async speech-to-text → LLM → text-to-speech pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// The agent's `n`th realtime provider (0 is the preferred one).
    Realtime(usize),
    /// The async pipeline.
    Pipeline,
}

impl Path {
    /// `realtime` or `pipeline`: the mode name in metrics, events and the live call registry.
    pub fn mode(self) -> &'static str {
        match self {
            Self::Realtime(_) => "realtime",
            Self::Pipeline => "pipeline",
        }
    }
}

/// Why the call moved to another path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchReason {
    /// The provider sent a terminal error.
    ProviderError,
    /// The provider connection closed or broke.
    ProviderClosed,
    /// The provider's circuit breaker is open (another call found it failing).
    BreakerOpen,
    /// No agent audio within the first-audio deadline after the caller stopped speaking.
    FirstAudioDeadline,
    /// Agent audio stalled mid-response beyond the stall deadline.
    Stall,
    /// The call's rolling p95 first-audio latency is over the agent's limit.
    SlowP95,
    /// The provider is rate-limiting (429 or no headroom left).
    RateLimited,
    /// The preferred realtime provider is healthy again (after its probes and the hold period).
    Recovered,
    /// Opening the chosen path failed; trying the next.
    ConnectFailed,
}

impl SwitchReason {
    /// Stable snake_case name (metric label, incident detail).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderError => "provider_error",
            Self::ProviderClosed => "provider_closed",
            Self::BreakerOpen => "breaker_open",
            Self::FirstAudioDeadline => "first_audio_deadline",
            Self::Stall => "stall",
            Self::SlowP95 => "slow_p95",
            Self::RateLimited => "rate_limited",
            Self::Recovered => "recovered",
            Self::ConnectFailed => "connect_failed",
        }
    }

    /// The failure mode an incident about this switch is filed under.
    pub fn failure_mode(self) -> FailureMode {
        match self {
            Self::FirstAudioDeadline | Self::Stall | Self::SlowP95 => FailureMode::LatencySpike,
            Self::RateLimited => FailureMode::RateLimitCascade,
            _ => FailureMode::ProviderOutage,
        }
    }
}

/// A fixed line voxgate speaks itself, from cached audio, when the model cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// "One moment": covers a slow switch, so there is no dead air.
    Filler,
    /// Spoken when every path is down.
    Apology,
}

/// Who said a conversation item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The agent.
    Assistant,
}

impl Role {
    /// `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up.
    CallerHangup,
    /// The agent ended the call.
    AgentEnded,
    /// The call reached the agent's maximum duration.
    MaxDuration,
    /// The provider failed and no other path could take the call.
    ProviderFailure,
    /// The server shut down past its grace period.
    ServerShutdown,
    /// The agent transferred the caller elsewhere.
    Transferred,
}

impl EndReason {
    /// Stable snake_case name, as stored in the call record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallerHangup => "caller_hangup",
            Self::AgentEnded => "agent_ended",
            Self::MaxDuration => "max_duration",
            Self::ProviderFailure => "provider_failure",
            Self::ServerShutdown => "server_shutdown",
            Self::Transferred => "transferred",
        }
    }
}

/// Something to write to the stores.
#[derive(Clone, Debug, PartialEq)]
pub enum PersistCommand {
    /// A finished conversation item.
    Item {
        /// Position in the conversation, from 0.
        seq: u64,
        /// Who said it.
        role: Role,
        /// What was said (assistant: what was played).
        text: String,
        /// Milliseconds of agent audio played (assistant items).
        played_ms: Option<u64>,
    },
    /// Usage of one response.
    Usage(Usage),
    /// The call ended.
    CallEnded(EndReason),
}

/// A failure a detector saw; the driver adds tenant, agent, call and wall-clock time.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentReport {
    /// Which failure mode.
    pub mode: FailureMode,
    /// How bad.
    pub severity: Severity,
    /// What the session did, as a snake_case verb phrase.
    pub action: &'static str,
    /// Structured detail (timings, codes); never personal data.
    pub detail: serde_json::Value,
}

/// A measurement the driver turns into metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measurement {
    /// Provider rate-limit headroom.
    RateLimit(RateLimit),
    /// End of caller speech → first agent audio of the answer.
    FirstAudio(Duration),
    /// Provider response started → its first audio (the provider's own latency).
    ProviderFirstAudio(Duration),
    /// The caller barged in.
    BargeIn,
    /// The call moved from one path to another.
    Switch {
        /// The path it left.
        from: Path,
        /// The path it moved to.
        to: Path,
        /// Why.
        reason: SwitchReason,
    },
    /// A failover completed: failure detected → new path in place, and → its first audio.
    Failover {
        /// Detection → the new path connected, seeded and replayed.
        to_switch: Duration,
        /// Detection → the first agent audio on the new path, when the caller was waiting for
        /// an answer.
        to_first_audio: Option<Duration>,
    },
}

/// What the session wants done. `Timeout` means: nothing more now; call
/// [`crate::session::Session::handle_timeout`] at this instant unless another input comes first.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send to the provider.
    Provider(ProviderCommand),
    /// Send to the caller's side.
    Client(ClientCommand),
    /// Write to the stores.
    Persist(PersistCommand),
    /// Record an incident.
    Incident(IncidentReport),
    /// Record a measurement.
    Measure(Measurement),
    /// Run a tool and report its result.
    Tool(ToolRequest),
    /// Open `to` for this call (in the background) and report with
    /// [`crate::session::Session::handle_switched`]. The old link is already told to close.
    Switch {
        /// The path to open.
        to: Path,
        /// Why.
        reason: SwitchReason,
    },
    /// Open a fresh provider session, seed it with these items (oldest first), switch to it,
    /// then report [`ProviderEvent::Renewed`] or [`ProviderEvent::RenewFailed`].
    RenewProvider(Vec<ProviderCommand>),
    /// Nothing else to do before this instant.
    Timeout(Instant),
    /// The session is over; drop it.
    Closed,
}

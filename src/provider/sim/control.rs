//! The simulator's control plane: scripted turns and their faults, connect faults, the faults of
//! the pipeline endpoints, and the log of what the simulator received and did. Tests reach it over HTTP under `/sim/` or in-process
//! through [`SimHandle`](super::SimHandle).

use super::pipeline::{PipelineFaults, PipelineRequestLog};
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// Longest list the log keeps; older entries go first.
const LOG_CAP: usize = 50_000;

/// `POST /sim/script`: turns appended to the queue, consumed one per response.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The turns, in order.
    pub turns: Vec<ScriptedTurn>,
}

/// How the simulated model answers one response.
///
/// With `reply_text` (or `faults.refusal`) it speaks that text as a tone of `reply_audio_ms`
/// (default: 60 ms per character). With only `tool_call` it calls the tool and says nothing.
/// With neither, the default agent answers (it echoes the caller's last turn), with this turn's
/// faults, and `reply_audio_ms` replaces the echo with a tone of that length.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTurn {
    /// What the model says.
    #[serde(default)]
    pub reply_text: Option<String>,
    /// Length of the synthesised reply audio.
    #[serde(default)]
    pub reply_audio_ms: Option<u64>,
    /// A function call made after the spoken reply (if any).
    #[serde(default)]
    pub tool_call: Option<ToolCall>,
    /// What the caller "said" in the turn this reply answers: sent as the input transcription
    /// when the session enables `audio.input.transcription`.
    #[serde(default)]
    pub caller_transcript: Option<String>,
    /// Failures to inject into this response.
    #[serde(default)]
    pub faults: TurnFaults,
}

/// A scripted function call.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The function's name.
    pub name: String,
    /// The arguments: an object is sent as its JSON text, a string verbatim (so a test can send
    /// invalid JSON).
    #[serde(default)]
    pub arguments: Value,
}

/// Failures injected into one response. Times are wall-clock ms unless said otherwise.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnFaults {
    /// Delay between `response.created` and the first output item (and its audio).
    #[serde(default)]
    pub first_audio_delay_ms: Option<u64>,
    /// Stop sending deltas once this much reply audio (audio ms) has been sent...
    #[serde(default)]
    pub stall_after_ms: Option<u64>,
    /// ...for this long; absent: for ever (until cancelled or the socket closes).
    #[serde(default)]
    pub stall_for_ms: Option<u64>,
    /// Drop the TCP connection (no close frame) this long after the response starts.
    #[serde(default)]
    pub drop_socket_after_ms: Option<u64>,
    /// Send this `error` event instead of the response.
    #[serde(default)]
    pub error_event: Option<ErrorSpec>,
    /// Send `rate_limits.updated` (nothing left) and a `rate_limit_exceeded` error instead of
    /// the response.
    #[serde(default)]
    pub rate_limit: bool,
    /// The reply is a refusal.
    #[serde(default)]
    pub refusal: bool,
    /// Send a text frame that is not JSON before the response.
    #[serde(default)]
    pub malformed_frame: bool,
}

/// An injected `error` event; absent fields take `server_error` defaults.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// `error.code`.
    #[serde(default)]
    pub code: Option<String>,
    /// `error.message`.
    #[serde(default)]
    pub message: Option<String>,
    /// `error.type`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `POST /sim/faults`: how WebSocket upgrades are refused, and faults every unscripted realtime
/// response gets (replaces the previous setting).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectFaults {
    /// Answer upgrades with this HTTP status (e.g. 429, 503) instead of accepting them.
    #[serde(default)]
    pub reject_connect_with: Option<u16>,
    /// `Retry-After` seconds sent with the refusal.
    #[serde(default)]
    pub retry_after_s: Option<u64>,
    /// Refuse only this many upgrades, then accept again; absent: until changed.
    #[serde(default)]
    pub reject_count: Option<u32>,
    /// Faults for every realtime response that has no scripted turn (the default agent answers
    /// with them): how the load generator makes every call fail over.
    #[serde(default)]
    pub realtime_response_faults: Option<TurnFaults>,
}

/// `GET /sim/log`: what the simulator received and did, over all connections, in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SimLog {
    /// Accepted sessions.
    pub connections: Vec<ConnectionLog>,
    /// HTTP statuses of refused upgrades (auth, faults, beta header).
    pub rejected_connects: Vec<u16>,
    /// `type` of every client event (`<malformed>` when not JSON, `<binary>` for binary frames).
    pub client_events: Vec<String>,
    /// `speech_started` / `speech_stopped` found by the VAD.
    pub vad: Vec<VadLog>,
    /// Accepted `conversation.item.truncate` events.
    pub truncations: Vec<TruncationLog>,
    /// Finished responses.
    pub responses: Vec<ResponseLog>,
    /// `error` events sent.
    pub errors: Vec<ErrorLog>,
    /// Requests to the pipeline endpoints, refused ones included.
    #[serde(default)]
    pub pipeline_requests: Vec<PipelineRequestLog>,
}

/// One accepted session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnectionLog {
    /// `sess_...`
    pub session_id: String,
    /// The `model` query parameter.
    pub model: String,
}

/// One VAD boundary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VadLog {
    /// `speech_started` or `speech_stopped`.
    pub kind: String,
    /// `audio_start_ms` or `audio_end_ms`.
    pub audio_ms: u64,
    /// The user item the speech becomes.
    pub item_id: String,
}

/// One truncation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TruncationLog {
    /// The assistant item.
    pub item_id: String,
    /// The content part.
    pub content_index: u64,
    /// Audio kept, in ms.
    pub audio_end_ms: u64,
}

/// One finished response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResponseLog {
    /// `resp_...`
    pub id: String,
    /// `completed`, `cancelled`, `failed` (injected error), or `dropped` (socket dropped).
    pub status: String,
    /// `turn_detected` or `client_cancelled` for cancelled responses; the error code for failed.
    pub reason: Option<String>,
    /// `echo`, `greeting` or `script`.
    pub source: String,
    /// Reply audio sent, in ms.
    pub audio_ms: u64,
    /// The reply's full transcript.
    pub transcript: String,
    /// The function called, if any.
    pub tool_call: Option<String>,
}

/// One `error` event sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorLog {
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<ScriptedTurn>,
    connect: ConnectFaults,
    pipeline: PipelineFaults,
    log: SimLog,
}

/// Shared by every connection of one simulator.
#[derive(Debug, Default)]
pub(super) struct Control {
    state: Mutex<Inner>,
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends turns; returns how many are queued.
    pub(super) fn queue(&self, turns: Vec<ScriptedTurn>) -> usize {
        let mut state = self.lock();
        state.script.extend(turns);
        state.script.len()
    }

    /// Takes the next scripted turn.
    pub(super) fn next_turn(&self) -> Option<ScriptedTurn> {
        self.lock().script.pop_front()
    }

    /// Takes the next scripted turn for a realtime response; unscripted, the default agent with
    /// the standing realtime faults, if any.
    pub(super) fn next_realtime_turn(&self) -> Option<ScriptedTurn> {
        let mut state = self.lock();
        match state.script.pop_front() {
            Some(turn) => Some(turn),
            None => state
                .connect
                .realtime_response_faults
                .clone()
                .map(|faults| ScriptedTurn {
                    faults,
                    ..ScriptedTurn::default()
                }),
        }
    }

    /// The caller transcript of the next scripted turn, if it has one.
    pub(super) fn next_caller_transcript(&self) -> Option<String> {
        self.lock()
            .script
            .front()
            .and_then(|turn| turn.caller_transcript.clone())
    }

    pub(super) fn set_connect_faults(&self, faults: ConnectFaults) {
        self.lock().connect = faults;
    }

    /// The refusal for a new upgrade, if one is due: (status, retry-after seconds).
    pub(super) fn connect_refusal(&self) -> Option<(u16, Option<u64>)> {
        let mut state = self.lock();
        let status = state.connect.reject_connect_with?;
        match &mut state.connect.reject_count {
            Some(0) => return None,
            Some(left) => *left -= 1,
            None => {}
        }
        Some((status, state.connect.retry_after_s))
    }

    pub(super) fn set_pipeline_faults(&self, faults: PipelineFaults) {
        self.lock().pipeline = faults;
    }

    /// Reads or updates the pipeline faults (under the lock).
    pub(super) fn pipeline_faults<R>(
        &self,
        use_faults: impl FnOnce(&mut PipelineFaults) -> R,
    ) -> R {
        use_faults(&mut self.lock().pipeline)
    }

    /// A copy of the log.
    pub(super) fn log(&self) -> SimLog {
        self.lock().log.clone()
    }

    /// Updates the log.
    pub(super) fn record(&self, update: impl FnOnce(&mut SimLog)) {
        let mut state = self.lock();
        update(&mut state.log);
        let log = &mut state.log;
        cap(&mut log.client_events);
        cap(&mut log.vad);
        cap(&mut log.responses);
        cap(&mut log.errors);
        cap(&mut log.pipeline_requests);
    }

    /// Forgets the script, the faults and the log.
    pub(super) fn reset(&self) {
        *self.lock() = Inner::default();
    }
}

fn cap<T>(list: &mut Vec<T>) {
    if list.len() > LOG_CAP {
        list.drain(..list.len() - LOG_CAP / 2);
    }
}

/// `/sim/script`, `/sim/faults`, `/sim/pipeline_faults`, `/sim/log`, `/sim/reset`.
pub(super) fn router(control: Arc<Control>) -> Router {
    Router::new()
        .route("/sim/script", post(post_script))
        .route("/sim/faults", post(post_faults))
        .route("/sim/pipeline_faults", post(post_pipeline_faults))
        .route("/sim/log", get(get_log))
        .route("/sim/reset", post(post_reset))
        .with_state(control)
}

fn bad_request(error: &serde_json::Error) -> Response {
    let body = json!({"error": {"code": "request.invalid", "message": error.to_string()}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn post_script(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Script>(&body) {
        Ok(script) => Json(json!({"queued": control.queue(script.turns)})).into_response(),
        Err(error) => bad_request(&error),
    }
}

/// Reads a setting, applies it and echoes it back.
fn apply<T: DeserializeOwned + Serialize>(body: &[u8], set: impl FnOnce(&T)) -> Response {
    match serde_json::from_slice::<T>(body) {
        Ok(setting) => {
            set(&setting);
            Json(setting).into_response()
        }
        Err(error) => bad_request(&error),
    }
}

async fn post_faults(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    apply(&body, |faults: &ConnectFaults| {
        control.set_connect_faults(faults.clone());
    })
}

async fn post_pipeline_faults(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    apply(&body, |faults: &PipelineFaults| {
        control.set_pipeline_faults(faults.clone());
    })
}

async fn get_log(State(control): State<Arc<Control>>) -> Json<SimLog> {
    Json(control.log())
}

async fn post_reset(State(control): State<Arc<Control>>) -> StatusCode {
    control.reset();
    StatusCode::NO_CONTENT
}

//! Test support: a tiny in-process imitation of the three OpenAI-compatible endpoints, served
//! under several backends (`http://addr/{backend}/v1/...`) with per-backend, per-stage faults
//! (5xx, 429 with `Retry-After`, slow first byte, stall mid-stream); the agent and setup tests
//! use; a health recorder (`recorder`) and the audio fixtures (`fixture`).

mod fixture;
mod recorder;

pub(super) use fixture::fixture;
pub(super) use recorder::Recorder;

use super::{PipelineSetup, StageEndpoint, StageTimeouts};
use crate::secret::Secret;
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use voxgate_core::{AgentSpec, session::AudioFormat};

/// How a backend misbehaves for one stage.
#[derive(Clone, Debug)]
pub(super) enum Fault {
    /// Answer with this status.
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    RateLimited(u64),
    /// Wait this long before answering.
    SlowFirstByte(Duration),
    /// Send the first piece, then go silent this long.
    StallAfterFirst(Duration),
}

/// What the chat endpoint answers.
#[derive(Clone, Debug)]
pub(super) enum Reply {
    /// Plain text.
    Text(String),
    /// Some text, then one tool call.
    Tool {
        text: String,
        name: String,
        arguments: String,
    },
}

/// One request the stub received.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) backend: String,
    pub(super) stage: &'static str,
    pub(super) body: String,
}

#[derive(Debug)]
struct Inner {
    faults: HashMap<(String, &'static str), Fault>,
    seen: Vec<Seen>,
    transcript: String,
    reply: Reply,
    tts_ms_per_char: u64,
    tts_chunk_delay: Duration,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stub; stops when dropped.
#[derive(Debug)]
pub(super) struct Stub {
    addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Milliseconds of TTS audio the stub makes per character of input.
pub(super) const TTS_MS_PER_CHAR: u64 = 20;

impl Stub {
    /// Serves on a free loopback port.
    pub(super) async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Inner {
            faults: HashMap::new(),
            seen: Vec::new(),
            transcript: "I would like to book an appointment.".into(),
            reply: Reply::Text("Sure. Tuesday at three works.".into()),
            tts_ms_per_char: TTS_MS_PER_CHAR,
            tts_chunk_delay: Duration::ZERO,
        }));
        let router = Router::new()
            .route("/{backend}/v1/audio/transcriptions", post(stt))
            .route("/{backend}/v1/chat/completions", post(chat))
            .route("/{backend}/v1/audio/speech", post(tts))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The endpoint of `backend` (any name).
    pub(super) fn endpoint(&self, backend: &str) -> StageEndpoint {
        StageEndpoint {
            provider: backend.to_owned(),
            base_url: format!("http://{}/{backend}/v1", self.addr),
            api_key: Secret::new(format!("sk-test-{backend}")),
            model: format!("model-{backend}"),
        }
    }

    /// Sets (or with `None` clears) a fault of `backend` for `stage` (`stt`, `llm`, `tts`).
    pub(super) fn fault(&self, backend: &str, stage: &'static str, fault: Option<Fault>) {
        let key = (backend.to_owned(), stage);
        let mut inner = lock(&self.shared);
        match fault {
            Some(fault) => inner.faults.insert(key, fault),
            None => inner.faults.remove(&key),
        };
    }

    /// What the chat endpoint answers from now on.
    pub(super) fn reply(&self, reply: Reply) {
        lock(&self.shared).reply = reply;
    }

    /// A pause between TTS body pieces (to cancel mid-sentence).
    pub(super) fn tts_chunk_delay(&self, delay: Duration) {
        lock(&self.shared).tts_chunk_delay = delay;
    }

    /// Bodies of the requests `backend` got for `stage`, in order.
    pub(super) fn seen(&self, backend: &str, stage: &str) -> Vec<String> {
        let inner = lock(&self.shared);
        let matching = inner
            .seen
            .iter()
            .filter(|s| s.backend == backend && s.stage == stage);
        matching.map(|s| s.body.clone()).collect()
    }
}

fn record(shared: &Shared, backend: String, stage: &'static str, body: &[u8]) -> Option<Fault> {
    let mut inner = lock(shared);
    let body = String::from_utf8_lossy(body).into_owned();
    inner.seen.push(Seen {
        backend: backend.clone(),
        stage,
        body,
    });
    inner.faults.get(&(backend, stage)).cloned()
}

/// The fault's answer if it replaces the normal one; waits out a slow first byte.
async fn fault_response(fault: &Option<Fault>) -> Option<Response> {
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {"message": "stub fault", "type": "server_error"}});
            Some((status, body.to_string()).into_response())
        }
        Some(Fault::RateLimited(seconds)) => {
            let body = json!({"error": {"message": "slow down", "code": "rate_limit_exceeded"}});
            let headers = [("retry-after", seconds.to_string())];
            Some((StatusCode::TOO_MANY_REQUESTS, headers, body.to_string()).into_response())
        }
        Some(Fault::SlowFirstByte(delay)) => {
            tokio::time::sleep(*delay).await;
            None
        }
        _ => None,
    }
}

/// A body sent piece by piece, pausing before pieces as the fault and pace ask.
fn paced(pieces: Vec<Vec<u8>>, fault: &Option<Fault>, pace: Duration) -> Body {
    let stall = match fault {
        Some(Fault::StallAfterFirst(stall)) => Some(*stall),
        _ => None,
    };
    let timed: Vec<(Duration, Vec<u8>)> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| match (i, stall) {
            (0, _) => (Duration::ZERO, piece),
            (1, Some(stall)) => (stall, piece),
            _ => (pace, piece),
        })
        .collect();
    let stream = futures_util::stream::unfold(timed.into_iter(), |mut rest| async move {
        let (delay, piece) = rest.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(piece)), rest))
    });
    Body::from_stream(stream)
}

async fn stt(State(shared): State<Shared>, Path(backend): Path<String>, body: Bytes) -> Response {
    let fault = record(&shared, backend, "stt", &body);
    if let Some(response) = fault_response(&fault).await {
        return response;
    }
    let text = lock(&shared).transcript.clone();
    json!({ "text": text }).to_string().into_response()
}

fn sse_pieces(reply: &Reply) -> Vec<u8> {
    let (text, tool) = match reply {
        Reply::Text(text) => (text.as_str(), None),
        Reply::Tool {
            text,
            name,
            arguments,
        } => (text.as_str(), Some((name, arguments))),
    };
    let mut chunks: Vec<Value> = text
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|piece| json!({"choices": [{"index": 0, "delta": {"content": piece.iter().collect::<String>()}}]}))
        .collect();
    if let Some((name, arguments)) = tool {
        let head = json!({"index": 0, "id": "call_stub1", "type": "function",
            "function": {"name": name, "arguments": ""}});
        chunks.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]}));
        for piece in arguments.chars().collect::<Vec<_>>().chunks(3) {
            let part: String = piece.iter().collect();
            let delta = json!({"index": 0, "function": {"arguments": part}});
            chunks.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]}));
        }
    }
    let finish = if tool.is_some() { "tool_calls" } else { "stop" };
    chunks.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}));
    chunks.push(json!({"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 9}}));
    let mut sse: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    sse.into_bytes()
}

async fn chat(State(shared): State<Shared>, Path(backend): Path<String>, body: Bytes) -> Response {
    let fault = record(&shared, backend, "llm", &body);
    if let Some(response) = fault_response(&fault).await {
        return response;
    }
    let reply = lock(&shared).reply.clone();
    let pieces = sse_pieces(&reply).chunks(37).map(<[u8]>::to_vec).collect();
    let body = paced(pieces, &fault, Duration::ZERO);
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn tts(State(shared): State<Shared>, Path(backend): Path<String>, body: Bytes) -> Response {
    let fault = record(&shared, backend, "tts", &body);
    if let Some(response) = fault_response(&fault).await {
        return response;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let chars = request["input"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .count() as u64;
    let (ms_per_char, pace) = {
        let inner = lock(&shared);
        (inner.tts_ms_per_char, inner.tts_chunk_delay)
    };
    let samples = (chars * ms_per_char * 24) as usize;
    let pcm: Vec<u8> = (0..samples)
        .map(|i| ((i as f64 * 0.05).sin() * 6_000.0) as i16)
        .flat_map(i16::to_le_bytes)
        .collect();
    // Odd-sized pieces: samples straddle piece boundaries.
    let pieces = pcm.chunks(2_401).map(<[u8]>::to_vec).collect();
    paced(pieces, &fault, pace).into_response()
}

/// An agent with a language and one tool.
pub(super) fn agent() -> Arc<AgentSpec> {
    let spec = json!({
        "name": "test-agent",
        "instructions": "You are the clinic's receptionist.",
        "voice": "verse",
        "language": "en-US",
        "tools": [{"name": "lookup", "description": "Looks things up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}],
    });
    Arc::new(serde_json::from_value(spec).expect("a valid agent"))
}

/// A setup against the stub: one backend list per stage, short deadlines.
pub(super) fn setup(
    stub: &Stub,
    health: Arc<Recorder>,
    format: AudioFormat,
    [stt, llm, tts]: [&[&str]; 3],
) -> PipelineSetup {
    let endpoints = |names: &[&str]| names.iter().map(|name| stub.endpoint(name)).collect();
    PipelineSetup {
        agent: agent(),
        format,
        stt: endpoints(stt),
        llm: endpoints(llm),
        tts: endpoints(tts),
        health,
        timeouts: StageTimeouts {
            first_byte: Duration::from_millis(300),
            stall: Duration::from_millis(300),
            stt_total: Duration::from_secs(1),
        },
    }
}

//! The OpenAI-compatible HTTP endpoints of the async pipeline, served beside `/v1/realtime`:
//!
//! - `POST /v1/audio/transcriptions` (`transcribe`): multipart, a 16-bit PCM mono WAV file. The
//!   text is the `caller_transcript` of the next scripted turn (which stays queued), or a
//!   description of the audio (`[caller audio: 1240 ms, speech 980 ms]`).
//! - `POST /v1/chat/completions` (`chat`, `reply`): takes the next scripted turn, or answers as
//!   the default agent (`You said: <the last user message>`); streamed as SSE or as one JSON.
//! - `POST /v1/audio/speech` (`speech`): the realtime sim's reply tone for the input (60 ms per
//!   character), as `pcm` or `wav` at 24 kHz, streamed in 100 ms chunks.
//!
//! Every request needs a bearer key, gets the endpoint's fault from `/sim/pipeline_faults`
//! (`faults`) and is logged in `SimLog::pipeline_requests`, refused ones included. This module
//! owns that gate; it must not touch the realtime sessions.

mod chat;
mod completion;
mod faults;
mod reply;
mod speech;
mod stream;
mod transcribe;

pub use faults::{EndpointFaults, PipelineFaults, PipelineRequestLog};

use super::{Shared, bearer_present, control::Control, refusal, unauthorized};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::DefaultBodyLimit,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use faults::Endpoint;
use serde_json::json;
use std::sync::Arc;
use tokio::{sync::watch, time::Duration};

/// Largest upload `/v1/audio/transcriptions` takes, as the real service.
const UPLOAD_LIMIT: usize = 25 * 1024 * 1024;

/// `/v1/audio/transcriptions`, `/v1/chat/completions`, `/v1/audio/speech`.
pub(super) fn router(shared: Shared) -> Router {
    Router::new()
        .route(
            "/v1/audio/transcriptions",
            post(transcribe::handle).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/v1/chat/completions", post(chat::handle))
        .route("/v1/audio/speech", post(speech::handle))
        .with_state(shared)
}

/// An OpenAI-style 400 naming the offending parameter.
fn invalid_request(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    let body = json!({"error": {
        "message": message, "type": "invalid_request_error", "param": param, "code": code,
    }});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// One request to a pipeline endpoint on its way through: the key check, the endpoint's fault
/// and the log entry.
struct Gate {
    control: Arc<Control>,
    stopped: watch::Receiver<bool>,
    endpoint: Endpoint,
    model: String,
    fault: Option<EndpointFaults>,
}

impl Gate {
    /// A request to `endpoint`.
    fn new(shared: &Shared, endpoint: Endpoint) -> Self {
        Self {
            control: shared.control.clone(),
            stopped: shared.stopped.clone(),
            endpoint,
            model: String::new(),
            fault: None,
        }
    }

    /// The (logged) 401 when the request has no bearer key.
    fn keyless(&self, headers: &HeaderMap) -> Option<Response> {
        if bearer_present(headers) {
            return None;
        }
        let response = unauthorized();
        self.record(
            response.status(),
            "Missing bearer or basic authentication in header",
        );
        Some(response)
    }

    /// Names the request's model in the log.
    fn set_model(&mut self, model: &str) {
        model.clone_into(&mut self.model);
    }

    /// The (logged) 400 of a request the endpoint cannot take.
    fn invalid(&self, message: &str, param: Option<&str>, code: Option<&str>) -> Response {
        let response = invalid_request(message, param, code);
        self.record(response.status(), message);
        response
    }

    /// Takes the endpoint's fault, if one is due, and waits its first-byte delay; returns the
    /// (logged) refusal when the fault is a status.
    async fn injected_refusal(&mut self) -> Option<Response> {
        self.fault = self
            .control
            .pipeline_faults(|faults| faults.take(self.endpoint));
        let fault = self.fault.clone()?;
        if let Some(ms) = fault.first_byte_delay_ms {
            let mut stopped = self.stopped.clone();
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => {
                    let response = refusal(StatusCode::SERVICE_UNAVAILABLE, None);
                    self.record(response.status(), "The simulator is shutting down.");
                    return Some(response);
                }
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            }
        }
        let status = fault.status?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let response = refusal(status, fault.retry_after_s);
        self.record(status, &format!("injected HTTP {}", status.as_u16()));
        Some(response)
    }

    /// A streamed body of `chunks` with this request's stall and drop faults.
    fn stream(&self, chunks: Vec<Bytes>) -> Body {
        stream::body(
            chunks,
            stream::INTERVAL,
            self.fault.as_ref(),
            self.stopped.clone(),
        )
    }

    /// Logs the request.
    fn record(&self, status: StatusCode, detail: &str) {
        let entry = PipelineRequestLog {
            endpoint: self.endpoint.name().to_owned(),
            model: self.model.clone(),
            status: status.as_u16(),
            detail: detail.to_owned(),
            fault: self.fault.as_ref().and_then(EndpointFaults::label),
        };
        self.control.record(|log| log.pipeline_requests.push(entry));
    }
}

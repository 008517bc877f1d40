//! One stage's endpoints and the one retry loop per request that walks them: skip what health
//! does not admit, record every attempt, retry the same endpoint at most once (when the budget
//! allows and any `Retry-After` is at most [`MAX_RETRY_WAIT`]), else move on. Also where HTTP
//! failures are classified (where they are born) and where bodies are read against the
//! first-byte and stall deadlines.
//!
//! An attempt records `Success` (with its first-byte latency) once its first bytes arrive; should
//! its stream then stall or break, a `Failure` is recorded for it as well.

use super::StageEndpoint;
use crate::health::{ProviderHealth, Target};
use std::time::Duration;
use tokio::time::Instant;
use voxgate_core::{failover::Outcome, session::ErrorClass};

/// The longest `Retry-After` worth waiting for on the same endpoint.
pub(super) const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);
/// How much of an error body is read to classify it.
const ERROR_BODY_LIMIT: usize = 16 * 1024;

/// A stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StageKind {
    /// Speech-to-text.
    Stt,
    /// Chat completion.
    Llm,
    /// Text-to-speech.
    Tts,
}

impl StageKind {
    /// `stt`, `llm` or `tts`, as health targets name stages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Stt => "stt",
            Self::Llm => "llm",
            Self::Tts => "tts",
        }
    }

    /// The error code reported when no endpoint of the stage could serve a request.
    pub(super) fn unavailable_code(self) -> &'static str {
        match self {
            Self::Stt => "pipeline.stt_unavailable",
            Self::Llm => "pipeline.llm_unavailable",
            Self::Tts => "pipeline.tts_unavailable",
        }
    }
}

/// Why one attempt failed, classified where it was born.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    /// Retry class.
    pub(super) class: ErrorClass,
    /// The endpoint's `Retry-After`, if it sent one.
    pub(super) retry_after: Option<Duration>,
    /// Stable code for the log.
    pub(super) code: &'static str,
}

impl Failure {
    /// A transient failure.
    pub(super) fn retryable(code: &'static str) -> Self {
        Self {
            class: ErrorClass::Retryable,
            retry_after: None,
            code,
        }
    }

    /// A failure retrying will not heal.
    pub(super) fn terminal(code: &'static str) -> Self {
        Self {
            class: ErrorClass::Terminal,
            ..Self::retryable(code)
        }
    }

    /// A transport error: timeouts and connection failures are retryable, a request that cannot
    /// even be built is not.
    pub(super) fn transport(error: &reqwest::Error) -> Self {
        if error.is_builder() {
            Self::terminal("http.bad_request")
        } else if error.is_timeout() {
            Self::retryable("http.timeout")
        } else if error.is_connect() {
            Self::retryable("http.unreachable")
        } else {
            Self::retryable("http.transport")
        }
    }
}

/// The health target of an endpoint.
pub(super) fn target(kind: StageKind, endpoint: &StageEndpoint) -> Target {
    Target {
        provider: endpoint.provider.clone(),
        stage: kind.name(),
        model: endpoint.model.clone(),
        endpoint: endpoint.base_url.clone(),
        key_id: Target::key_id(endpoint.api_key.expose()),
    }
}

/// Turns a non-success response into a classified failure (reading a little of its body, since
/// `insufficient_quota` comes as a 429); passes a success through.
pub(super) async fn check_status(
    response: reqwest::Response,
    stall: Duration,
) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let mut body = Body::new(response, stall);
    let mut text = Vec::new();
    while text.len() < ERROR_BODY_LIMIT {
        match body.next().await {
            Ok(Some(chunk)) => text.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let quota = String::from_utf8_lossy(&text).contains("insufficient_quota");
    let failure = match status.as_u16() {
        _ if quota => Failure::terminal("http.insufficient_quota"),
        429 => Failure::retryable("http.rate_limited"),
        408 => Failure::retryable("http.timeout"),
        401 | 403 => Failure::terminal("http.unauthorized"),
        404 => Failure::terminal("http.not_found"),
        400..=499 => Failure::terminal("http.rejected"),
        _ => Failure::retryable("http.server_error"),
    };
    Err(Failure {
        retry_after,
        ..failure
    })
}

/// `Retry-After` (or `retry-after-ms`), in seconds; HTTP dates are ignored.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        let value = headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()?;
        (value.is_finite() && value >= 0.0).then_some(value)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// A response body read chunk by chunk; a gap longer than the stall limit is a failure.
#[derive(Debug)]
pub(super) struct Body {
    response: reqwest::Response,
    stall: Duration,
}

impl Body {
    /// Reads `response` with `stall` as the longest gap between chunks.
    pub(super) fn new(response: reqwest::Response, stall: Duration) -> Self {
        Self { response, stall }
    }

    /// The next chunk, `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        match tokio::time::timeout(self.stall, self.response.chunk()).await {
            Err(_) => Err(Failure::retryable("http.stalled")),
            Ok(Err(error)) => Err(Failure::transport(&error)),
            Ok(Ok(chunk)) => Ok(chunk.map(|bytes| bytes.to_vec())),
        }
    }
}

/// A streamed response whose first bytes arrived in time.
#[derive(Debug)]
pub(super) struct Opened {
    /// The rest of the body.
    pub(super) body: Body,
    /// The first body bytes (`None`: the body was empty).
    pub(super) first: Option<Vec<u8>>,
    /// Request sent → first body bytes.
    pub(super) latency: Duration,
}

/// Sends `request` and waits for the first body bytes within `first_byte`.
pub(super) async fn open(
    request: reqwest::RequestBuilder,
    first_byte: Duration,
    stall: Duration,
) -> Result<Opened, Failure> {
    let sent = Instant::now();
    let opening = async {
        let response = request.send().await.map_err(|e| Failure::transport(&e))?;
        let mut body = Body::new(check_status(response, stall).await?, stall);
        let first = body.next().await?;
        Ok::<_, Failure>((body, first))
    };
    match tokio::time::timeout(first_byte, opening).await {
        Err(_) => Err(Failure::retryable("http.first_byte_timeout")),
        Ok(Err(failure)) => Err(failure),
        Ok(Ok((body, first))) => Ok(Opened {
            body,
            first,
            latency: sent.elapsed(),
        }),
    }
}

/// One attempt the walk allows: which endpoint, and its health target.
#[derive(Debug)]
pub(super) struct Attempt<'a> {
    /// Index of the endpoint in the stage's list.
    pub(super) index: usize,
    /// The endpoint.
    pub(super) endpoint: &'a StageEndpoint,
    /// Its health target.
    pub(super) target: Target,
    retried: bool,
}

/// The retry loop of one request, driven by its caller:
/// `while let Some(attempt) = walk.next().await { ... walk.failed(attempt, failure) }`.
pub(super) struct Walk<'a> {
    kind: StageKind,
    order: Vec<(usize, &'a StageEndpoint)>,
    position: usize,
    health: &'a dyn ProviderHealth,
    deadline: Option<Instant>,
    retry: Option<(Attempt<'a>, Duration)>,
}

impl<'a> Walk<'a> {
    /// Walks `endpoints` starting at index `first` (wrapping round), optionally until `deadline`.
    pub(super) fn new(
        kind: StageKind,
        endpoints: &'a [StageEndpoint],
        first: usize,
        health: &'a dyn ProviderHealth,
        deadline: Option<Instant>,
    ) -> Self {
        let count = endpoints.len();
        let order = (0..count)
            .map(|step| (first + step) % count)
            .map(|index| (index, &endpoints[index]))
            .collect();
        Self {
            kind,
            order,
            position: 0,
            health,
            deadline,
            retry: None,
        }
    }

    /// The next attempt (after waiting out a short `Retry-After`), or `None` when the stage has
    /// nothing left to try.
    pub(super) async fn next(&mut self) -> Option<Attempt<'a>> {
        let expired = |at: Instant| self.deadline.is_some_and(|deadline| at >= deadline);
        if let Some((attempt, wait)) = self.retry.take()
            && !expired(Instant::now() + wait)
        {
            tokio::time::sleep(wait).await;
            return Some(attempt);
        }
        while let Some(&(index, endpoint)) = self.order.get(self.position) {
            self.position += 1;
            if expired(Instant::now()) {
                return None;
            }
            let target = target(self.kind, endpoint);
            if !self.health.admit(&target) {
                tracing::debug!(stage = self.kind.name(), endpoint = %endpoint.base_url, "Pipeline endpoint skipped: not admitted.");
                continue;
            }
            return Some(Attempt {
                index,
                endpoint,
                target,
                retried: false,
            });
        }
        None
    }

    /// Records a success (latency: time to first byte).
    pub(super) fn succeeded(&self, attempt: &Attempt<'_>, latency: Duration) {
        self.health
            .record(&attempt.target, Outcome::Success { latency });
    }

    /// Records a failure and decides whether the same endpoint gets one more try.
    pub(super) fn failed(&mut self, mut attempt: Attempt<'a>, failure: Failure) {
        let Failure {
            class,
            retry_after,
            code,
        } = failure;
        self.health
            .record(&attempt.target, Outcome::Failure { class, retry_after });
        tracing::warn!(stage = self.kind.name(), endpoint = %attempt.endpoint.base_url, code, retryable = class == ErrorClass::Retryable, "Pipeline stage attempt failed.");
        if attempt.retried || class == ErrorClass::Terminal {
            return;
        }
        let wait = retry_after
            .or_else(|| self.health.retry_after(&attempt.target))
            .unwrap_or_default();
        if wait <= MAX_RETRY_WAIT && self.health.may_retry(&attempt.target) {
            attempt.retried = true;
            self.retry = Some((attempt, wait));
        }
    }

    /// Records a failure that happened after output was already used (no retry follows).
    pub(super) fn failed_midway(&self, attempt: &Attempt<'_>, failure: Failure) {
        let Failure {
            class,
            retry_after,
            code,
        } = failure;
        self.health
            .record(&attempt.target, Outcome::Failure { class, retry_after });
        tracing::warn!(stage = self.kind.name(), endpoint = %attempt.endpoint.base_url, code, "Pipeline stage failed mid-stream.");
    }
}

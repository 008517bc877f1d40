//! A call's paths: its realtime providers and its pipeline, resolved, and how to open each one
//! through provider health (breaker admission, one retry within the retry budget, outcomes
//! recorded) — at the start of the call and whenever the session switches.

use crate::{
    health::{HealthRegistry, ProviderHealth, Target},
    provider::{
        ProviderLink,
        directory::AgentRoutes,
        openai_realtime::{self, ConnectError},
        pipeline::{self, PipelineSetup, StageTimeouts},
        probe,
    },
};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use voxgate_core::{
    AgentSpec,
    failover::Outcome,
    session::{AudioFormat, ErrorClass, Path},
};

/// A realtime connect (TCP, TLS, upgrade, session configured) that takes longer has failed: a
/// black-holed provider must not hold a call, or a switch, for the kernel's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A `Retry-After` longer than this is not waited out by a retry: the next path is tried.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Everything needed to open any of a call's paths.
#[derive(Clone, Debug)]
pub struct CallPaths {
    /// The agent.
    pub agent: Arc<AgentSpec>,
    /// The caller's audio format, both ways.
    pub format: AudioFormat,
    /// The agent's providers, resolved.
    pub routes: AgentRoutes,
    /// Breakers and budgets shared by every call.
    pub health: Arc<HealthRegistry>,
    /// Pipeline stage deadlines.
    pub timeouts: StageTimeouts,
}

impl CallPaths {
    /// How many realtime providers the agent has.
    pub fn realtime_count(&self) -> usize {
        self.routes.realtime.len()
    }

    /// The breaker of a realtime path.
    pub fn realtime_target(&self, path: Path) -> Option<&Target> {
        match path {
            Path::Realtime(index) => self.routes.realtime.get(index).map(|route| &route.target),
            Path::Pipeline => None,
        }
    }

    /// Whether any of this call's paths or stages uses `target`.
    pub fn uses(&self, target: &Target) -> bool {
        let routes = &self.routes;
        routes.realtime.iter().any(|route| &route.target == target)
            || [&routes.stt, &routes.llm, &routes.tts]
                .into_iter()
                .flatten()
                .any(|route| &route.target == target)
    }

    /// The realtime path a breaker belongs to.
    pub fn path_of(&self, target: &Target) -> Option<Path> {
        self.routes
            .realtime
            .iter()
            .position(|route| &route.target == target)
            .map(Path::Realtime)
    }

    /// Provider and model of a path, for usage records.
    pub fn provider_and_model(&self, path: Path) -> (String, String) {
        let endpoint = match path {
            Path::Realtime(index) => self
                .routes
                .realtime
                .get(index)
                .map(|route| (route.target.provider.clone(), route.target.model.clone())),
            Path::Pipeline => self
                .routes
                .llm
                .first()
                .map(|route| (route.target.provider.clone(), route.target.model.clone())),
        };
        endpoint.unwrap_or_default()
    }

    /// Tells the registry how to probe each of this call's targets, should one open.
    pub fn register_probes(&self) {
        for route in &self.routes.realtime {
            let probe = probe::realtime(route.endpoint.clone(), self.format);
            self.health.register_probe(&route.target, probe);
        }
        for route in &self.routes.stt {
            let probe = probe::transcription(route.endpoint.clone());
            self.health.register_probe(&route.target, probe);
        }
        for route in &self.routes.llm {
            let probe = probe::chat(route.endpoint.clone());
            self.health.register_probe(&route.target, probe);
        }
        for route in &self.routes.tts {
            let probe = probe::speech(route.endpoint.clone());
            self.health.register_probe(&route.target, probe);
        }
    }

    /// The pipeline's setup for this call.
    pub fn pipeline_setup(&self) -> PipelineSetup {
        let endpoints = |routes: &[crate::provider::directory::StageRoute]| {
            routes.iter().map(|route| route.endpoint.clone()).collect()
        };
        PipelineSetup {
            agent: self.agent.clone(),
            format: self.format,
            stt: endpoints(&self.routes.stt),
            llm: endpoints(&self.routes.llm),
            tts: endpoints(&self.routes.tts),
            health: self.health.clone(),
            timeouts: self.timeouts,
        }
    }

    /// The first path that opens: the realtime providers in order (those whose breakers admit
    /// the call), then the pipeline, which always opens.
    pub async fn open_first(&self) -> (Path, ProviderLink) {
        for index in 0..self.realtime_count() {
            if let Ok(link) = self.open(Path::Realtime(index)).await {
                return (Path::Realtime(index), link);
            }
        }
        (Path::Pipeline, pipeline::start(self.pipeline_setup()))
    }

    /// Opens `path`: a realtime provider through its breaker, with at most one retry paid from
    /// the retry budget; the pipeline at once.
    pub async fn open(&self, path: Path) -> Result<ProviderLink, ConnectError> {
        let index = match path {
            Path::Pipeline => return Ok(pipeline::start(self.pipeline_setup())),
            Path::Realtime(index) => index,
        };
        let Some(route) = self.routes.realtime.get(index) else {
            return Err(refused("provider.unknown_path"));
        };
        let health = &self.health;
        if !health.admit(&route.target) {
            return Err(refused("provider.breaker_open"));
        }
        let mut retried = false;
        loop {
            let started = Instant::now();
            let connect = openai_realtime::connect(&route.endpoint, &self.agent, self.format);
            let result = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .unwrap_or_else(|_| Err(refused("provider.connect_timeout")));
            let error = match result {
                Ok(link) => {
                    let latency = started.elapsed();
                    health.record(&route.target, Outcome::Success { latency });
                    return Ok(link);
                }
                Err(error) => error,
            };
            let outcome = Outcome::Failure {
                class: error.class,
                retry_after: error.retry_after,
            };
            health.record(&route.target, outcome);
            let wait = health.retry_after(&route.target).unwrap_or_default();
            // No retry into a breaker this failure opened, and none beyond the budget.
            // Nor after a timeout: the caller has waited long enough for this provider.
            let retry = !retried
                && error.class == ErrorClass::Retryable
                && error.code != "provider.connect_timeout"
                && wait <= LONGEST_RETRY_WAIT
                && health.is_healthy(&route.target)
                && health.may_retry(&route.target);
            if !retry {
                return Err(error);
            }
            retried = true;
            tokio::time::sleep(wait).await;
        }
    }
}

/// A connect that did not happen or did not finish: retryable, with no provider answer.
fn refused(code: &'static str) -> ConnectError {
    ConnectError {
        class: ErrorClass::Retryable,
        code,
        message: code.to_owned(),
        retry_after: None,
    }
}

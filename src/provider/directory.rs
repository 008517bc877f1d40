//! Which endpoints an agent's provider lists resolve to.
//!
//! The server config names providers (`openai`, or the built-in simulator `sim` when no key is
//! set); an agent lists, per path and stage, which provider and model to use, in order of
//! preference. An agent that lists nothing for a stage gets the default provider with the
//! default model of that stage, so every agent has a pipeline to fall back on.

use super::{openai_realtime::RealtimeEndpoint, pipeline::StageEndpoint};
use crate::{health::Target, secret::Secret};
use voxgate_core::{AgentSpec, agent::ProviderRef};

/// Default models per stage, when an agent names none.
pub const DEFAULT_REALTIME_MODEL: &str = "gpt-realtime";
/// See [`DEFAULT_REALTIME_MODEL`].
pub const DEFAULT_STT_MODEL: &str = "gpt-4o-mini-transcribe";
/// See [`DEFAULT_REALTIME_MODEL`].
pub const DEFAULT_LLM_MODEL: &str = "gpt-4o-mini";
/// See [`DEFAULT_REALTIME_MODEL`].
pub const DEFAULT_TTS_MODEL: &str = "gpt-4o-mini-tts";

/// One configured provider: an OpenAI-compatible HTTP base URL (the Realtime WebSocket URL is
/// derived from it) and its key.
#[derive(Clone, Debug)]
pub struct ProviderEndpoint {
    /// The name agents use.
    pub name: String,
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer key.
    pub api_key: Secret,
}

impl ProviderEndpoint {
    /// `wss://…/v1/realtime` from `https://…/v1`.
    pub fn realtime_url(&self) -> String {
        let ws = self
            .base_url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        format!("{}/realtime", ws.trim_end_matches('/'))
    }

    fn target(&self, stage: &'static str, model: &str, endpoint: &str) -> Target {
        Target {
            provider: self.name.clone(),
            stage,
            model: model.to_owned(),
            endpoint: endpoint.to_owned(),
            key_id: Target::key_id(self.api_key.expose()),
        }
    }
}

/// The configured providers; the first is the default.
#[derive(Clone, Debug)]
pub struct ProviderDirectory {
    endpoints: Vec<ProviderEndpoint>,
    /// The default answers for every provider name (the simulator, when no key is configured).
    stand_in: bool,
}

/// One realtime provider of an agent, resolved.
#[derive(Clone, Debug)]
pub struct RealtimeRoute {
    /// Its breaker.
    pub target: Target,
    /// How to connect.
    pub endpoint: RealtimeEndpoint,
}

/// One stage endpoint of an agent's pipeline, resolved.
#[derive(Clone, Debug)]
pub struct StageRoute {
    /// Its breaker.
    pub target: Target,
    /// How to call it.
    pub endpoint: StageEndpoint,
}

/// An agent's paths, resolved against the directory, in order of preference.
#[derive(Clone, Debug, Default)]
pub struct AgentRoutes {
    /// Realtime providers.
    pub realtime: Vec<RealtimeRoute>,
    /// Speech-to-text endpoints.
    pub stt: Vec<StageRoute>,
    /// Chat-completion endpoints.
    pub llm: Vec<StageRoute>,
    /// Text-to-speech endpoints.
    pub tts: Vec<StageRoute>,
}

impl ProviderDirectory {
    /// A directory whose default provider is `default`.
    pub fn new(default: ProviderEndpoint) -> Self {
        Self {
            endpoints: vec![default],
            stand_in: false,
        }
    }

    /// A directory where `default` (the simulator) stands in for every provider an agent
    /// names, so agents written for real providers run on a machine without keys.
    pub fn stand_in(default: ProviderEndpoint) -> Self {
        Self {
            endpoints: vec![default],
            stand_in: true,
        }
    }

    /// Adds another provider agents can name.
    #[must_use]
    pub fn with(mut self, endpoint: ProviderEndpoint) -> Self {
        self.endpoints.retain(|known| known.name != endpoint.name);
        self.endpoints.push(endpoint);
        self
    }

    /// The default provider's name (for records and the start-up log).
    pub fn default_name(&self) -> &str {
        self.endpoints.first().map_or("sim", |e| e.name.as_str())
    }

    fn find(&self, name: &str) -> Option<&ProviderEndpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }

    /// The agent's lists, or the default provider and model when a list is empty. A provider
    /// name the directory does not know is skipped (and logged), never guessed; if every name
    /// is unknown the default provider serves the first model listed.
    fn resolve<'a>(
        &'a self,
        agent: &AgentSpec,
        refs: &[ProviderRef],
        default_model: &str,
    ) -> Vec<(&'a ProviderEndpoint, String)> {
        let Some(default) = self.endpoints.first() else {
            return Vec::new();
        };
        let resolved: Vec<_> = refs
            .iter()
            .filter_map(|reference| match self.find(&reference.provider) {
                Some(endpoint) => Some((endpoint, reference.model.clone())),
                None if self.stand_in => Some((default, reference.model.clone())),
                None => {
                    tracing::warn!(agent = %agent.name, provider = %reference.provider, "The agent names a provider this server does not have; skipping it.");
                    None
                }
            })
            .collect();
        if !resolved.is_empty() {
            return resolved;
        }
        let model = refs.first().map_or_else(
            || default_model.to_owned(),
            |reference| reference.model.clone(),
        );
        vec![(default, model)]
    }

    /// Resolves every path and stage of `agent`.
    pub fn routes(&self, agent: &AgentSpec) -> AgentRoutes {
        let realtime = self
            .resolve(agent, &agent.realtime, DEFAULT_REALTIME_MODEL)
            .into_iter()
            .map(|(provider, model)| {
                let url = provider.realtime_url();
                RealtimeRoute {
                    target: provider.target("realtime", &model, &url),
                    endpoint: RealtimeEndpoint {
                        url,
                        api_key: provider.api_key.clone(),
                        model,
                    },
                }
            })
            .collect();
        let stage = |refs: &[ProviderRef], stage: &'static str, default: &str| {
            self.resolve(agent, refs, default)
                .into_iter()
                .map(|(provider, model)| StageRoute {
                    target: provider.target(stage, &model, &provider.base_url),
                    endpoint: StageEndpoint {
                        provider: provider.name.clone(),
                        base_url: provider.base_url.clone(),
                        api_key: provider.api_key.clone(),
                        model,
                    },
                })
                .collect::<Vec<_>>()
        };
        AgentRoutes {
            realtime,
            stt: stage(&agent.pipeline.stt, "stt", DEFAULT_STT_MODEL),
            llm: stage(&agent.pipeline.llm, "llm", DEFAULT_LLM_MODEL),
            tts: stage(&agent.pipeline.tts, "tts", DEFAULT_TTS_MODEL),
        }
    }
}

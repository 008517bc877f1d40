//! One typed configuration tree, loaded from an optional TOML file and `VOXGATE_*` environment
//! variables (environment wins), then validated as a whole.
//!
//! This is the only module that reads the environment (clippy's `disallowed-methods` enforces it).
//! Unknown keys, in the file or as `VOXGATE_*` variables, are errors. [`Config::validate`] reports
//! every problem at once, each with its key path. Secrets are [`Secret`]s from the moment they are
//! read.

mod env;
mod sip;
mod webrtc;

use crate::secret::Secret;
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf};
use voxgate_core::FieldError;

pub use env::ENV_KEYS;
pub use sip::{Cidr, PortRange, Route as SipRoute, SipConfig};
pub use webrtc::WebRtcConfig;

/// The whole server configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP API and WebSocket listener.
    pub http: HttpConfig,
    /// Durable store. Without a URL, voxgate uses SQLite under `data_dir`.
    pub database: DatabaseConfig,
    /// Hot state. Without a URL, voxgate keeps it in process memory.
    pub redis: RedisConfig,
    /// Admin key: may create tenants and API keys. Without one, only the CLI can.
    pub admin_key: Option<Secret>,
    /// Key that signs call tokens. Every node of a deployment needs the same one; without it,
    /// each process makes a random key (fine for one node).
    pub call_token_key: Option<Secret>,
    /// Folder for the embedded SQLite database and other local state.
    pub data_dir: Option<PathBuf>,
    /// Folder of `*.toml` agent definitions loaded into the default tenant at start.
    pub agents_dir: Option<PathBuf>,
    /// Name of the tenant that file-defined agents belong to.
    pub default_tenant: Option<String>,
    /// Model providers.
    pub providers: ProvidersConfig,
    /// The URL callers and carriers reach this server at (`https://voice.example.com`): used in
    /// the stream URLs handed to carriers and to check carrier webhook signatures.
    pub public_url: Option<String>,
    /// Twilio.
    pub twilio: TwilioConfig,
    /// WebRTC media (UDP).
    pub webrtc: WebRtcConfig,
    /// The SIP trunk endpoint (UDP); off unless `sip.udp_addr` is set.
    pub sip: SipConfig,
    /// On shutdown, calls in progress get this many seconds to end by themselves (default 30).
    pub shutdown_grace_seconds: Option<u64>,
    /// Logging.
    pub log: LogConfig,
}

/// HTTP listener settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// Largest accepted request body, in bytes. Default 1 MiB.
    pub body_limit_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 1024 * 1024,
        }
    }
}

/// Durable store settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host/db`. Unset means embedded SQLite.
    pub url: Option<Secret>,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

/// Hot state settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:6379/0`. Unset means in-process memory.
    pub url: Option<Secret>,
    /// Prefix of every key voxgate writes, so several deployments can share one Redis.
    pub key_prefix: Option<String>,
}

/// Twilio settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    /// The account's auth token: checks `X-Twilio-Signature` on the voice webhook, which is
    /// refused while this is unset.
    pub auth_token: Option<Secret>,
}

/// Model providers by name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    /// OpenAI or any endpoint speaking its protocols.
    pub openai: OpenAiConfig,
    /// More OpenAI-compatible providers by the name agents use (`[providers.endpoints.azure]`,
    /// with `base_url` and `api_key`): alternatives in an agent's realtime list or pipeline
    /// stages (Azure OpenAI, vLLM, Ollama, speaches, ...). Configured in the TOML file only.
    pub endpoints: std::collections::BTreeMap<String, EndpointConfig>,
}

/// An operator-defined OpenAI-compatible provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Base URL of the HTTP API, e.g. `http://vllm.internal:8000/v1`.
    pub base_url: String,
    /// Bearer key.
    pub api_key: Secret,
}

/// An OpenAI-compatible endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// API key. Without one, calls use the built-in provider simulator.
    pub api_key: Option<Secret>,
    /// Base URL of the HTTP API; the Realtime WebSocket URL is derived from it.
    pub base_url: String,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.openai.com/v1".to_owned(),
        }
    }
}

/// Log output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `voxgate=debug,sqlx=warn`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why the configuration could not be used. Lists every problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file or environment has problems.
    #[error("invalid configuration:\n{}", format_problems(.0))]
    Invalid(Vec<FieldError>),
}

fn format_problems(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Loads the file (if any), overlays the process environment, and validates.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        #[allow(clippy::disallowed_methods)] // the one place that reads the environment
        let vars = std::env::vars();
        Self::load_from(file, vars)
    }

    /// Like [`Config::load`], with the environment given (for tests).
    pub fn load_from(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        Self::parse(&text, vars)
    }

    /// Parses TOML text, overlays the given environment, and validates.
    pub fn parse(
        toml_text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut table: toml::Table = match toml_text.parse() {
            Ok(table) => table,
            Err(error) => {
                let message = error.message().to_owned();
                return Err(ConfigError::Invalid(vec![FieldError::new(
                    "(file)", message,
                )]));
            }
        };
        env::overlay(&mut table, vars, &mut problems);
        let config = match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table))
        {
            Ok(config) => Some(config),
            Err(error) => {
                problems.push(FieldError::new(
                    error.path().to_string(),
                    error.inner().message().to_owned(),
                ));
                None
            }
        };
        if let Some(config) = &config {
            problems.extend(config.validate());
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }

    /// Every semantic problem, with its key path. Empty means valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if let Some(url) = &self.database.url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push(FieldError::new(
                    "database.url",
                    "must be a postgres:// URL (leave unset for embedded SQLite)",
                ));
            }
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            problems.push(FieldError::new(
                "database.max_connections",
                "must be between 1 and 1000",
            ));
        }
        if let Some(url) = &self.redis.url {
            let url = url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                problems.push(FieldError::new(
                    "redis.url",
                    "must be a redis:// or rediss:// URL (leave unset for in-memory state)",
                ));
            }
        }
        if let Some(key) = &self.admin_key
            && key.expose().len() < 24
        {
            problems.push(FieldError::new(
                "admin_key",
                "must be at least 24 characters (use a random value)",
            ));
        }
        if let Some(key) = &self.call_token_key
            && key.expose().len() < 32
        {
            problems.push(FieldError::new(
                "call_token_key",
                "must be at least 32 characters (use a random value)",
            ));
        }
        if let Some(key) = &self.providers.openai.api_key
            && key.expose().trim().is_empty()
        {
            problems.push(FieldError::new(
                "providers.openai.api_key",
                "is empty; unset it to use the simulator",
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problems.push(FieldError::new("public_url", "must be an http(s):// URL"));
        }
        let base = &self.providers.openai.base_url;
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            problems.push(FieldError::new(
                "providers.openai.base_url",
                "must be an http(s):// URL",
            ));
        }
        for (name, endpoint) in &self.providers.endpoints {
            let field = |what: &str| format!("providers.endpoints.{name}.{what}");
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid_name || name == "openai" || name == "sim" {
                problems.push(FieldError::new(
                    format!("providers.endpoints.{name}"),
                    "needs a name of 1-64 lowercase letters, digits or dashes, other than `openai` and `sim`",
                ));
            }
            let url = &endpoint.base_url;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(FieldError::new(
                    field("base_url"),
                    "must be an http(s):// URL",
                ));
            }
            if endpoint.api_key.expose().trim().is_empty() {
                problems.push(FieldError::new(field("api_key"), "must not be empty"));
            }
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.http.body_limit_bytes) {
            problems.push(FieldError::new(
                "http.body_limit_bytes",
                "must be between 1 KiB and 256 MiB",
            ));
        }
        self.webrtc.validate(&mut problems);
        self.sip.validate(&mut problems);
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            problems.push(FieldError::new(
                "log.filter",
                "is not a valid tracing filter",
            ));
        }
        problems
    }

    /// The data folder (default `./data`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"))
    }

    /// The agents folder (default `./agents`).
    pub fn agents_dir(&self) -> PathBuf {
        self.agents_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./agents"))
    }

    /// How long shutdown waits for calls in progress.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_seconds.unwrap_or(30))
    }

    /// The tenant file-defined agents belong to (default `default`).
    pub fn default_tenant(&self) -> &str {
        self.default_tenant.as_deref().unwrap_or("default")
    }
}

#[cfg(test)]
mod tests;

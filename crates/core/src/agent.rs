//! The agent spec: what an operator configures, as plain validated data.
//!
//! An `AgentSpec` is parsed from JSON (HTTP API) or TOML (`agents/*.toml`) by the shell and
//! checked here by [`AgentSpec::validate`], which reports every bad field at once with its path.
//! This module knows nothing of storage or versions; the store adds those.

mod validate;

use serde::{Deserialize, Serialize};

/// A problem with one field of an agent spec or config, with its path (`tools[0].parameters`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path to the field.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FieldError {
    /// A problem at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A voice agent: who it is, how it speaks, which providers serve it, and its limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Unique per tenant: lowercase letters, digits and dashes, at most 64.
    pub name: String,
    /// A line for operators; never shown to callers.
    #[serde(default)]
    pub description: Option<String>,
    /// The system instructions given to the model.
    pub instructions: String,
    /// What the agent says first, if anything.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Provider voice name.
    #[serde(default = "default_voice")]
    pub voice: String,
    /// BCP 47 language tag of the conversation, e.g. `en-US`.
    #[serde(default)]
    pub language: Option<String>,
    /// Ordered realtime providers; empty means the server's default provider.
    #[serde(default)]
    pub realtime: Vec<ProviderRef>,
    /// Ordered providers of the async fallback pipeline, per stage.
    #[serde(default)]
    pub pipeline: PipelineSpec,
    /// Latency limits that drive failover.
    #[serde(default)]
    pub latency: LatencyLimits,
    /// What happens when the AI behind the call fails.
    #[serde(default)]
    pub failover: FailoverPolicy,
    /// Guard policy for what the agent hears and says.
    #[serde(default)]
    pub guard: GuardPolicy,
    /// Time and spend caps.
    #[serde(default)]
    pub budget: Budget,
    /// Tools the model may call, each with a JSON Schema for its arguments.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// The agent's knowledge base, if it has one.
    #[serde(default)]
    pub knowledge: Option<KnowledgeRef>,
    /// Built-in tools that let the model end or transfer the call.
    #[serde(default)]
    pub call_control: CallControl,
}

fn default_voice() -> String {
    "alloy".to_owned()
}

/// One provider endpoint and model, by the provider's configured name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderRef {
    /// Name of a provider in the server config (`openai`, `sim`, or an operator-defined name).
    pub provider: String,
    /// Model name at that provider.
    pub model: String,
}

/// Provider lists for the speech-to-text → text LLM → text-to-speech pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Speech-to-text providers, in order.
    #[serde(default)]
    pub stt: Vec<ProviderRef>,
    /// Text LLM providers, in order.
    #[serde(default)]
    pub llm: Vec<ProviderRef>,
    /// Text-to-speech providers, in order.
    #[serde(default)]
    pub tts: Vec<ProviderRef>,
}

/// Latency limits, in milliseconds. Breaching them switches the call to another path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyLimits {
    /// End of caller speech → first agent audio.
    pub first_audio_ms: u32,
    /// Longest gap between agent audio chunks mid-response.
    pub stall_ms: u32,
    /// Rolling p95 of first-audio latency above which the provider counts as slow.
    pub p95_ms: u32,
    /// A switch slower than this plays a short filler line.
    pub filler_after_ms: u32,
}

impl Default for LatencyLimits {
    fn default() -> Self {
        Self {
            first_audio_ms: 2000,
            stall_ms: 1000,
            p95_ms: 1500,
            filler_after_ms: 600,
        }
    }
}

/// Failover behaviour beyond the latency limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverPolicy {
    /// The preferred realtime provider must stay healthy this long (after its breaker closed)
    /// before a call on another path returns to it, at a turn boundary.
    pub recover_after_ms: u32,
    /// What happens when every path is down: `keep_call` (apologise, keep listening, try again
    /// next turn) or `end_call` (apologise, then hang up).
    pub when_all_down: WhenAllDown,
    /// Played from cached audio when a switch keeps the caller waiting.
    pub filler_line: String,
    /// Played from cached audio when every path is down.
    pub apology_line: String,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            recover_after_ms: 30_000,
            when_all_down: WhenAllDown::KeepCall,
            filler_line: "One moment, please.".to_owned(),
            apology_line: "Sorry, I'm having trouble right now. Please bear with me.".to_owned(),
        }
    }
}

/// See [`FailoverPolicy::when_all_down`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenAllDown {
    /// Apologise and keep the call.
    #[default]
    KeepCall,
    /// Apologise and end the call.
    EndCall,
}

/// What the guards check and what the agent says when one blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardPolicy {
    /// Redact personal data from agent speech and from stored transcripts.
    pub redact_pii: bool,
    /// Check caller turns and tool/knowledge text for prompt injection.
    pub detect_injection: bool,
    /// Phrases the agent must never say (matched case-insensitively).
    pub deny_phrases: Vec<String>,
    /// Topics the agent must decline.
    pub deny_topics: Vec<String>,
    /// Spoken instead of a blocked response.
    pub policy_line: String,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        Self {
            redact_pii: true,
            detect_injection: true,
            deny_phrases: Vec::new(),
            deny_topics: Vec::new(),
            policy_line: "Sorry, I can't help with that.".to_owned(),
        }
    }
}

/// Time and cost caps per call and per day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Longest call, in seconds.
    pub max_call_seconds: u32,
    /// Spend cap of one call, in US dollars.
    pub max_call_usd: Option<f64>,
    /// Spend cap of the agent per UTC day, in US dollars.
    pub daily_usd: Option<f64>,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_call_seconds: 1800,
            max_call_usd: None,
            daily_usd: None,
        }
    }
}

/// A tool (function) the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// Function name as the model sees it: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema (an object schema) of the arguments.
    pub parameters: serde_json::Value,
    /// HTTPS (or loopback HTTP) endpoint voxgate POSTs the arguments to.
    #[serde(default)]
    pub webhook: Option<String>,
}

/// Name of the built-in tool that ends the call.
pub const END_CALL_TOOL: &str = "end_call";
/// Name of the built-in tool that transfers the call.
pub const TRANSFER_CALL_TOOL: &str = "transfer_call";

/// Built-in call-control tools: voxgate itself (not a webhook) carries them out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallControl {
    /// Offer the model `end_call`: the call ends once the current answer has been played.
    pub end_call: bool,
    /// Where the model may send the caller with `transfer_call` (offered only when non-empty and
    /// the call's transport can transfer: SIP).
    pub transfer_targets: Vec<TransferTarget>,
}

/// A place the caller can be transferred to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// What the model calls it: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// A `sip:`, `sips:` or `tel:` URI.
    pub uri: String,
    /// When to choose it, for the model.
    #[serde(default)]
    pub description: Option<String>,
}

impl AgentSpec {
    /// The built-in tools this agent offers the model on a call (`can_transfer`: whether the
    /// call's transport can transfer). They carry no webhook: the session handles them.
    pub fn call_control_tools(&self, can_transfer: bool) -> Vec<ToolSpec> {
        let control = &self.call_control;
        let mut tools = Vec::new();
        if control.end_call {
            tools.push(ToolSpec {
                name: END_CALL_TOOL.to_owned(),
                description: "End the call. Say goodbye first; the call ends once that has \
                              been played."
                    .to_owned(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
                webhook: None,
            });
        }
        if can_transfer && !control.transfer_targets.is_empty() {
            let targets: Vec<String> = control
                .transfer_targets
                .iter()
                .map(|target| match &target.description {
                    Some(description) => format!("{}: {description}", target.name),
                    None => target.name.clone(),
                })
                .collect();
            let names: Vec<&str> = control
                .transfer_targets
                .iter()
                .map(|target| target.name.as_str())
                .collect();
            tools.push(ToolSpec {
                name: TRANSFER_CALL_TOOL.to_owned(),
                description: format!(
                    "Transfer the caller to another line. Tell them first; the transfer \
                     happens once that has been played. Targets: {}.",
                    targets.join("; ")
                ),
                parameters: serde_json::json!({
                    "type": "object",
                    "properties": {"target": {"type": "string", "enum": names}},
                    "required": ["target"],
                }),
                webhook: None,
            });
        }
        tools
    }
}

/// Where the agent's knowledge lives: a folder of Markdown passages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeRef {
    /// Folder relative to the agents directory, e.g. `support/kb`.
    pub path: String,
}

//! Semantic validation of an [`AgentSpec`]: every rule, every field, all problems at once.

use super::{AgentSpec, FieldError, LatencyLimits, ProviderRef};

const MAX_NAME: usize = 64;
const MAX_INSTRUCTIONS: usize = 32 * 1024;
const LATENCY_RANGE_MS: std::ops::RangeInclusive<u32> = 50..=60_000;
const MAX_CALL_SECONDS: u32 = 4 * 3600;
const MAX_RECOVER_AFTER_MS: u32 = 3_600_000;

impl AgentSpec {
    /// Checks every field and returns all problems, each with its path. Empty means valid.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_slug(&self.name, MAX_NAME) {
            errors.push(FieldError::new(
                "name",
                "must be 1-64 lowercase letters, digits or dashes, starting with a letter or digit",
            ));
        }
        check_text(
            &mut errors,
            "instructions",
            &self.instructions,
            MAX_INSTRUCTIONS,
        );
        if let Some(greeting) = &self.greeting {
            check_text(&mut errors, "greeting", greeting, 2000);
        }
        check_text(&mut errors, "voice", &self.voice, 64);
        check_providers(&mut errors, "realtime", &self.realtime);
        self.validate_pipeline(&mut errors);
        validate_latency(&mut errors, &self.latency);
        check_text(
            &mut errors,
            "failover.filler_line",
            &self.failover.filler_line,
            300,
        );
        check_text(
            &mut errors,
            "failover.apology_line",
            &self.failover.apology_line,
            300,
        );
        if self.failover.recover_after_ms > MAX_RECOVER_AFTER_MS {
            errors.push(FieldError::new(
                "failover.recover_after_ms",
                "must be at most 3600000 (one hour)",
            ));
        }
        self.validate_guard(&mut errors);
        self.validate_budget(&mut errors);
        self.validate_tools(&mut errors);
        self.validate_call_control(&mut errors);
        if let Some(knowledge) = &self.knowledge {
            let path = &knowledge.path;
            if path.is_empty()
                || path.starts_with('/')
                || path.split(['/', '\\']).any(|part| part == "..")
            {
                errors.push(FieldError::new(
                    "knowledge.path",
                    "must be a relative folder inside the agents directory, without `..`",
                ));
            }
        }
        errors
    }

    fn validate_pipeline(&self, errors: &mut Vec<FieldError>) {
        let stages = [
            ("pipeline.stt", &self.pipeline.stt),
            ("pipeline.llm", &self.pipeline.llm),
            ("pipeline.tts", &self.pipeline.tts),
        ];
        let configured = stages.iter().filter(|(_, list)| !list.is_empty()).count();
        for (path, list) in stages {
            check_providers(errors, path, list);
            if configured > 0 && list.is_empty() {
                errors.push(FieldError::new(
                    path,
                    "the pipeline needs stt, llm and tts together; this stage has no provider",
                ));
            }
        }
    }

    fn validate_guard(&self, errors: &mut Vec<FieldError>) {
        for (i, phrase) in self.guard.deny_phrases.iter().enumerate() {
            if phrase.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("guard.deny_phrases[{i}]"),
                    "must not be empty",
                ));
            }
        }
        for (i, topic) in self.guard.deny_topics.iter().enumerate() {
            if topic.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("guard.deny_topics[{i}]"),
                    "must not be empty",
                ));
            }
        }
        check_text(errors, "guard.policy_line", &self.guard.policy_line, 500);
    }

    fn validate_budget(&self, errors: &mut Vec<FieldError>) {
        if !(1..=MAX_CALL_SECONDS).contains(&self.budget.max_call_seconds) {
            errors.push(FieldError::new(
                "budget.max_call_seconds",
                format!("must be between 1 and {MAX_CALL_SECONDS}"),
            ));
        }
        let caps = [
            ("budget.max_call_usd", self.budget.max_call_usd),
            ("budget.daily_usd", self.budget.daily_usd),
        ];
        for (path, cap) in caps {
            if cap.is_some_and(|usd| !(usd.is_finite() && usd > 0.0)) {
                errors.push(FieldError::new(path, "must be a positive amount"));
            }
        }
    }

    fn validate_tools(&self, errors: &mut Vec<FieldError>) {
        for (i, tool) in self.tools.iter().enumerate() {
            let at = |field: &str| format!("tools[{i}].{field}");
            if !is_function_name(&tool.name) {
                errors.push(FieldError::new(
                    at("name"),
                    "must be 1-64 letters, digits, `_` or `-`",
                ));
            } else if self.tools[..i].iter().any(|t| t.name == tool.name) {
                errors.push(FieldError::new(at("name"), "duplicates an earlier tool"));
            }
            check_text(errors, &at("description"), &tool.description, 1024);
            if let Err(message) = check_parameters_schema(&tool.parameters) {
                errors.push(FieldError::new(at("parameters"), message));
            }
            if let Some(url) = &tool.webhook
                && !(url.starts_with("https://") || is_loopback_http(url))
            {
                errors.push(FieldError::new(
                    at("webhook"),
                    "must be an https:// URL (http:// only for 127.0.0.1 or localhost)",
                ));
            }
        }
    }
}

impl AgentSpec {
    fn validate_call_control(&self, errors: &mut Vec<FieldError>) {
        let control = &self.call_control;
        let clashes = [
            (control.end_call, super::END_CALL_TOOL),
            (
                !control.transfer_targets.is_empty(),
                super::TRANSFER_CALL_TOOL,
            ),
        ];
        for (enabled, builtin) in clashes {
            if let Some(i) = self.tools.iter().position(|tool| tool.name == builtin)
                && enabled
            {
                errors.push(FieldError::new(
                    format!("tools[{i}].name"),
                    format!(
                        "`{builtin}` is the built-in call-control tool enabled in call_control"
                    ),
                ));
            }
        }
        for (i, target) in control.transfer_targets.iter().enumerate() {
            let at = |field: &str| format!("call_control.transfer_targets[{i}].{field}");
            if !is_function_name(&target.name) {
                errors.push(FieldError::new(
                    at("name"),
                    "must be 1-64 letters, digits, `_` or `-`",
                ));
            } else if control.transfer_targets[..i]
                .iter()
                .any(|t| t.name == target.name)
            {
                errors.push(FieldError::new(at("name"), "duplicates an earlier target"));
            }
            let scheme_ok = ["sip:", "sips:", "tel:"]
                .iter()
                .any(|scheme| target.uri.len() > scheme.len() && target.uri.starts_with(scheme));
            if !scheme_ok
                || target.uri.len() > 256
                || target
                    .uri
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(FieldError::new(
                    at("uri"),
                    "must be a sip:, sips: or tel: URI of at most 256 characters, without spaces",
                ));
            }
            if let Some(description) = &target.description {
                check_text(errors, &at("description"), description, 300);
            }
        }
    }
}

fn validate_latency(errors: &mut Vec<FieldError>, limits: &LatencyLimits) {
    let fields = [
        ("latency.first_audio_ms", limits.first_audio_ms),
        ("latency.stall_ms", limits.stall_ms),
        ("latency.p95_ms", limits.p95_ms),
        ("latency.filler_after_ms", limits.filler_after_ms),
    ];
    for (path, value) in fields {
        if !LATENCY_RANGE_MS.contains(&value) {
            errors.push(FieldError::new(
                path,
                format!(
                    "must be between {} and {} ms",
                    LATENCY_RANGE_MS.start(),
                    LATENCY_RANGE_MS.end()
                ),
            ));
        }
    }
    if limits.filler_after_ms >= limits.first_audio_ms {
        errors.push(FieldError::new(
            "latency.filler_after_ms",
            "must be below latency.first_audio_ms, or the filler comes after the deadline",
        ));
    }
}

fn check_text(errors: &mut Vec<FieldError>, path: &str, text: &str, max_chars: usize) {
    if text.trim().is_empty() {
        errors.push(FieldError::new(path, "must not be empty"));
    } else if text.chars().count() > max_chars {
        errors.push(FieldError::new(
            path,
            format!("must be at most {max_chars} characters"),
        ));
    }
}

fn check_providers(errors: &mut Vec<FieldError>, path: &str, list: &[ProviderRef]) {
    for (i, provider) in list.iter().enumerate() {
        if !is_slug(&provider.provider, MAX_NAME) {
            errors.push(FieldError::new(
                format!("{path}[{i}].provider"),
                "must name a configured provider (lowercase letters, digits, dashes)",
            ));
        }
        if provider.model.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{path}[{i}].model"),
                "must not be empty",
            ));
        }
    }
}

fn check_parameters_schema(schema: &serde_json::Value) -> Result<(), String> {
    if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err("must be a JSON Schema with \"type\": \"object\"".to_owned());
    }
    jsonschema::meta::validate(schema)
        .map_err(|error| format!("is not a valid JSON Schema: {error}"))?;
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|error| format!("cannot be compiled: {error}"))
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_function_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            url.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> AgentSpec {
        serde_json::from_value(json!({"name": "front-desk", "instructions": "Be brief."}))
            .expect("minimal spec parses")
    }

    fn fields(spec: &AgentSpec) -> Vec<String> {
        spec.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn minimal_spec_is_valid_with_defaults() {
        assert_eq!(minimal().validate(), vec![]);
        assert_eq!(minimal().voice, "alloy");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut spec = minimal();
        spec.name = "Front Desk".into();
        spec.instructions = " ".into();
        spec.latency.first_audio_ms = 10;
        spec.budget.daily_usd = Some(-1.0);
        spec.failover.apology_line = String::new();
        spec.failover.recover_after_ms = 4_000_000;
        let got = fields(&spec);
        for want in [
            "name",
            "instructions",
            "latency.first_audio_ms",
            "latency.filler_after_ms",
            "budget.daily_usd",
            "failover.apology_line",
            "failover.recover_after_ms",
        ] {
            assert!(
                got.contains(&want.to_owned()),
                "{want} missing from {got:?}"
            );
        }
    }

    #[test]
    fn tool_parameters_must_be_a_valid_object_schema() {
        let mut spec = minimal();
        spec.tools = serde_json::from_value(json!([
            {"name": "book", "description": "Book a slot", "parameters": {"type": "object", "properties": {"day": {"type": "date-ish"}}}},
            {"name": "book", "description": "Again", "parameters": {"type": "string"}},
        ]))
        .expect("tools parse");
        let got = fields(&spec);
        assert_eq!(
            got,
            vec![
                "tools[0].parameters",
                "tools[1].name",
                "tools[1].parameters"
            ]
        );
    }

    #[test]
    fn partial_pipeline_names_the_missing_stages() {
        let mut spec = minimal();
        spec.pipeline.llm = vec![ProviderRef {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
        }];
        assert_eq!(fields(&spec), vec!["pipeline.stt", "pipeline.tts"]);
    }

    #[test]
    fn knowledge_path_cannot_escape_the_agents_directory() {
        let mut spec = minimal();
        spec.knowledge = Some(super::super::KnowledgeRef {
            path: "../secrets".into(),
        });
        assert_eq!(fields(&spec), vec!["knowledge.path"]);
    }

    #[test]
    fn webhooks_need_https_except_on_loopback() {
        let mut spec = minimal();
        let tool = |url: &str| super::super::ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
            webhook: Some(url.into()),
        };
        spec.tools = vec![tool("http://127.0.0.1:9000/hook")];
        assert!(spec.validate().is_empty());
        spec.tools = vec![tool("http://localhost.evil.com/hook")];
        assert_eq!(fields(&spec), vec!["tools[0].webhook"]);
    }

    #[test]
    fn call_control_targets_need_names_and_sip_or_tel_uris() {
        let mut spec = minimal();
        spec.call_control = serde_json::from_value(json!({
            "end_call": true,
            "transfer_targets": [
                {"name": "billing", "uri": "sip:billing@pbx.example.com"},
                {"name": "billing", "uri": "tel:+15550100"},
                {"name": "front desk", "uri": "https://example.com"},
            ]
        }))
        .expect("call_control parses");
        spec.tools = serde_json::from_value(json!([
            {"name": "end_call", "description": "Mine", "parameters": {"type": "object"}},
        ]))
        .expect("tools parse");
        assert_eq!(
            fields(&spec),
            vec![
                "tools[0].name",
                "call_control.transfer_targets[1].name",
                "call_control.transfer_targets[2].name",
                "call_control.transfer_targets[2].uri",
            ]
        );
        let typo = json!({"end_call": true, "transfer_target": []});
        assert!(serde_json::from_value::<super::super::CallControl>(typo).is_err());
    }

    #[test]
    fn call_control_tools_are_offered_as_configured() {
        let mut spec = minimal();
        assert!(spec.call_control_tools(true).is_empty());
        spec.call_control = serde_json::from_value(json!({
            "end_call": true,
            "transfer_targets": [{"name": "billing", "uri": "sip:billing@pbx.example.com"}]
        }))
        .expect("call_control parses");
        let names = |tools: Vec<super::super::ToolSpec>| -> Vec<String> {
            tools.into_iter().map(|tool| tool.name).collect()
        };
        assert_eq!(names(spec.call_control_tools(false)), vec!["end_call"]);
        let tools = spec.call_control_tools(true);
        assert_eq!(
            tools[1].parameters["properties"]["target"]["enum"],
            json!(["billing"])
        );
        assert_eq!(names(tools), vec!["end_call", "transfer_call"]);
    }

    #[test]
    fn unknown_fields_are_rejected_when_parsing() {
        let parsed = serde_json::from_value::<AgentSpec>(
            json!({"name": "a", "instructions": "b", "instruction": "typo"}),
        );
        assert!(parsed.is_err());
    }
}

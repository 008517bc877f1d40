//! `session.update` for the simulator: merging a partial GA session into the current one (unknown
//! and beta-shaped fields are refused, as the service does), and the settings derived from it.

use super::{
    codec::Format,
    event::{self, Modality},
    vad::VadConfig,
};
use serde_json::{Map, Value};

/// Why a client event was refused: becomes an `invalid_request_error`.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) param: Option<String>,
}

impl Refusal {
    pub(super) fn new(code: &'static str, message: String, param: &str) -> Self {
        Self {
            code,
            message,
            param: Some(param.to_owned()),
        }
    }

    pub(super) fn unknown(param: &str) -> Self {
        Self::new(
            "unknown_parameter",
            format!("Unknown parameter: '{param}'."),
            param,
        )
    }

    pub(super) fn missing(param: &str) -> Self {
        let message = format!("Missing required parameter: '{param}'.");
        Self::new("missing_required_parameter", message, param)
    }

    pub(super) fn invalid(param: &str, message: String) -> Self {
        Self::new("invalid_value", message, param)
    }
}

/// Turn detection as the simulator runs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TurnSettings {
    pub(super) vad: VadConfig,
    pub(super) create_response: bool,
    pub(super) interrupt_response: bool,
}

/// What the simulator needs from the session object.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Settings {
    pub(super) input: Format,
    pub(super) output: Format,
    pub(super) turn: Option<TurnSettings>,
    pub(super) modality: Modality,
    pub(super) voice: Value,
    pub(super) transcription: bool,
    pub(super) instructions: String,
}

const TOP_LEVEL: [&str; 12] = [
    "instructions",
    "output_modalities",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "parallel_tool_calls",
    "model",
    "reasoning",
];

/// `current` with `patch` (the `session` of a `session.update`) applied.
pub(super) fn merge(current: &Value, patch: &Value) -> Result<Value, Refusal> {
    let Some(patch) = patch.as_object() else {
        return Err(Refusal::missing("session"));
    };
    match patch.get("type").and_then(Value::as_str) {
        Some("realtime") => {}
        Some(other) => {
            let message = format!(
                "Invalid value: '{other}'. The simulator supports only 'realtime' sessions."
            );
            return Err(Refusal::invalid("session.type", message));
        }
        None => return Err(Refusal::missing("session.type")),
    }
    let mut next = current.clone();
    for (key, value) in patch {
        match key.as_str() {
            "type" => {}
            "audio" => merge_audio(&mut next["audio"], value)?,
            key if TOP_LEVEL.contains(&key) => next[key] = value.clone(),
            other => return Err(Refusal::unknown(&format!("session.{other}"))),
        }
    }
    settings(&next)?;
    Ok(next)
}

fn merge_audio(target: &mut Value, patch: &Value) -> Result<(), Refusal> {
    let Some(patch) = patch.as_object() else {
        return Err(Refusal::invalid(
            "session.audio",
            "Expected an object.".to_owned(),
        ));
    };
    for (side, value) in patch {
        let keys: &[&str] = match side.as_str() {
            "input" => &[
                "format",
                "transcription",
                "noise_reduction",
                "turn_detection",
            ],
            "output" => &["format", "voice", "speed"],
            other => return Err(Refusal::unknown(&format!("session.audio.{other}"))),
        };
        let Some(fields) = value.as_object() else {
            let param = format!("session.audio.{side}");
            return Err(Refusal::invalid(&param, "Expected an object.".to_owned()));
        };
        for (key, value) in fields {
            let param = format!("session.audio.{side}.{key}");
            if !keys.contains(&key.as_str()) {
                return Err(Refusal::unknown(&param));
            }
            let slot = &mut target[side.as_str()][key.as_str()];
            *slot = match key.as_str() {
                "format" => Format::parse(value)
                    .map_err(|message| Refusal::invalid(&param, message))?
                    .to_json(),
                "turn_detection" => merge_turn_detection(slot, value, &param)?,
                _ => value.clone(),
            };
        }
    }
    Ok(())
}

fn merge_turn_detection(current: &Value, patch: &Value, param: &str) -> Result<Value, Refusal> {
    let Some(fields) = patch.as_object() else {
        return match patch {
            Value::Null => Ok(Value::Null),
            _ => Err(Refusal::invalid(
                param,
                "Expected an object or null.".to_owned(),
            )),
        };
    };
    let kind = fields.get("type").and_then(Value::as_str);
    let mut merged: Map<String, Value> = match kind {
        Some(kind) if current.get("type").and_then(Value::as_str) == Some(kind) => {
            current.as_object().cloned().unwrap_or_default()
        }
        Some("server_vad") => as_map(event::server_vad_defaults()),
        Some("semantic_vad") => as_map(event::semantic_vad_defaults()),
        Some(other) => {
            let message = format!(
                "Invalid value: '{other}'. Supported values are: 'server_vad' and 'semantic_vad'."
            );
            return Err(Refusal::invalid(&format!("{param}.type"), message));
        }
        None => return Err(Refusal::missing(&format!("{param}.type"))),
    };
    for (key, value) in fields {
        if !merged.contains_key(key) {
            return Err(Refusal::unknown(&format!("{param}.{key}")));
        }
        merged.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(merged))
}

fn as_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The settings a session object describes.
pub(super) fn settings(session: &Value) -> Result<Settings, Refusal> {
    let audio = &session["audio"];
    let format = |side: &str| match &audio[side]["format"] {
        Value::Null => Ok(Format::Pcm),
        value => Format::parse(value)
            .map_err(|message| Refusal::invalid(&format!("session.audio.{side}.format"), message)),
    };
    let modality = match session["output_modalities"].as_array().map(Vec::as_slice) {
        None => Modality::Audio,
        Some([only]) if only == "text" => Modality::Text,
        Some(list) if !list.is_empty() && list.iter().all(|m| m == "audio" || m == "text") => {
            Modality::Audio
        }
        Some(_) => {
            let message = "Supported values are: ['audio'] and ['text'].".to_owned();
            return Err(Refusal::invalid("session.output_modalities", message));
        }
    };
    Ok(Settings {
        input: format("input")?,
        output: format("output")?,
        turn: turn_settings(&audio["input"]["turn_detection"]),
        modality,
        voice: match &audio["output"]["voice"] {
            Value::Null => Value::from("alloy"),
            voice => voice.clone(),
        },
        transcription: audio["input"]["transcription"].is_object(),
        instructions: session["instructions"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

fn turn_settings(detection: &Value) -> Option<TurnSettings> {
    let number = |key: &str, default: u64| detection[key].as_u64().unwrap_or(default);
    let flag = |key: &str| detection[key].as_bool().unwrap_or(true);
    let silence_duration_ms = match detection["type"].as_str()? {
        "semantic_vad" => match detection["eagerness"].as_str() {
            Some("low") => 900,
            Some("high") => 250,
            _ => 500,
        },
        _ => number("silence_duration_ms", 500),
    };
    Some(TurnSettings {
        vad: VadConfig {
            threshold: detection["threshold"].as_f64().unwrap_or(0.5),
            prefix_padding_ms: number("prefix_padding_ms", 300),
            silence_duration_ms,
        },
        create_response: flag("create_response"),
        interrupt_response: flag("interrupt_response"),
    })
}

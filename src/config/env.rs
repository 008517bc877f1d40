//! The `VOXGATE_*` environment variables and the config keys they set.
//!
//! The table is the contract that docs, deployments and tests rely on. A `VOXGATE_*` variable
//! that is not in it is an error (typos must not be silently ignored), except `VOXGATE_TEST_*`,
//! which belongs to the test suites.

use toml::{Table, Value};
use voxgate_core::FieldError;

/// Every environment variable voxgate reads, with the config key it sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("VOXGATE_HTTP_ADDR", "http.addr"),
    ("VOXGATE_HTTP_BODY_LIMIT_BYTES", "http.body_limit_bytes"),
    ("VOXGATE_DATABASE_URL", "database.url"),
    (
        "VOXGATE_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
    ),
    ("VOXGATE_REDIS_URL", "redis.url"),
    ("VOXGATE_REDIS_KEY_PREFIX", "redis.key_prefix"),
    ("VOXGATE_ADMIN_KEY", "admin_key"),
    ("VOXGATE_CALL_TOKEN_KEY", "call_token_key"),
    ("VOXGATE_DATA_DIR", "data_dir"),
    ("VOXGATE_AGENTS_DIR", "agents_dir"),
    ("VOXGATE_DEFAULT_TENANT", "default_tenant"),
    ("VOXGATE_OPENAI_API_KEY", "providers.openai.api_key"),
    ("VOXGATE_OPENAI_BASE_URL", "providers.openai.base_url"),
    ("VOXGATE_PUBLIC_URL", "public_url"),
    ("VOXGATE_TWILIO_AUTH_TOKEN", "twilio.auth_token"),
    ("VOXGATE_WEBRTC_UDP_ADDR", "webrtc.udp_addr"),
    ("VOXGATE_WEBRTC_PUBLIC_IP", "webrtc.public_ip"),
    (
        "VOXGATE_WEBRTC_MAX_CALLS_PER_TENANT",
        "webrtc.max_calls_per_tenant",
    ),
    ("VOXGATE_SIP_UDP_ADDR", "sip.udp_addr"),
    ("VOXGATE_SIP_PUBLIC_IP", "sip.public_ip"),
    ("VOXGATE_SIP_RTP_PORTS", "sip.rtp_ports"),
    ("VOXGATE_SIP_ALLOWED_SOURCES", "sip.allowed_sources"),
    ("VOXGATE_SIP_USERNAME", "sip.username"),
    ("VOXGATE_SIP_PASSWORD", "sip.password"),
    ("VOXGATE_SIP_REALM", "sip.realm"),
    ("VOXGATE_SIP_MAX_CALLS", "sip.max_calls"),
    (
        "VOXGATE_SIP_MAX_CALLS_PER_TENANT",
        "sip.max_calls_per_tenant",
    ),
    ("VOXGATE_SIP_ANSWER_AFTER_MS", "sip.answer_after_ms"),
    ("VOXGATE_SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds"),
    ("VOXGATE_LOG_FORMAT", "log.format"),
    ("VOXGATE_LOG", "log.filter"),
];

/// Keys whose values are numbers; every other variable is taken as a string.
const NUMERIC_KEYS: &[&str] = &[
    "http.body_limit_bytes",
    "database.max_connections",
    "shutdown_grace_seconds",
    "webrtc.max_calls_per_tenant",
    "sip.max_calls",
    "sip.max_calls_per_tenant",
    "sip.answer_after_ms",
];

/// Writes each known variable into the table at its key; records unknown ones as problems.
pub(super) fn overlay(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<FieldError>,
) {
    for (name, value) in vars {
        if !name.starts_with("VOXGATE_") || name.starts_with("VOXGATE_TEST_") {
            continue;
        }
        let Some((_, key)) = ENV_KEYS.iter().find(|(env, _)| *env == name) else {
            problems.push(FieldError::new(
                name,
                "unknown environment variable (see the configuration reference in README.md)",
            ));
            continue;
        };
        let value = if NUMERIC_KEYS.contains(key) {
            match value.trim().parse::<i64>() {
                Ok(number) => Value::Integer(number),
                Err(_) => {
                    problems.push(FieldError::new(name, "must be a whole number"));
                    continue;
                }
            }
        } else {
            Value::String(value)
        };
        set_path(table, key, value);
    }
}

fn set_path(table: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part)
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        current = next;
    }
    current.insert(last.to_owned(), value);
}

//! Boundaries that the compiler cannot see: the core's dependency list and the API description.

use crate::support::{memory, sqlite};
use std::{collections::BTreeSet, path::Path};
use voxgate::{http, secret::Secret, telemetry};

#[test]
fn the_core_crate_depends_on_no_runtime_socket_or_database_crate() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/core/Cargo.toml"),
    )
    .expect("core manifest");
    let manifest: toml::Table = manifest.parse().expect("valid TOML");
    let forbidden = [
        "tokio",
        "axum",
        "sqlx",
        "redis",
        "reqwest",
        "hyper",
        "tungstenite",
        "tokio-tungstenite",
        "str0m",
        "mio",
        "async-std",
    ];
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
            continue;
        };
        for name in deps.keys() {
            assert!(
                !forbidden.contains(&name.as_str()),
                "crates/core {section} lists `{name}`"
            );
        }
    }
}

#[tokio::test]
async fn openapi_json_describes_every_route() {
    let (durable, _dir) = sqlite().await;
    let state = http::AppState {
        durable,
        hot: memory(),
        admin_key: Some(Secret::new("x".repeat(32))),
        metrics: telemetry::metrics_handle(),
        calls: crate::support::call_services("ws://127.0.0.1:9/v1/realtime"),
    };
    let (_, openapi) = http::router_with_openapi(state, 1024 * 1024);
    let described: BTreeSet<String> = openapi
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            methods
                .into_iter()
                .filter(|(_, has)| *has)
                .map(move |(m, _)| format!("{m} {path}"))
        })
        .collect();
    let expected = [
        "POST /v1/tenants",
        "GET /v1/tenants",
        "POST /v1/api-keys",
        "DELETE /v1/api-keys/{id}",
        "POST /v1/agents",
        "GET /v1/agents",
        "GET /v1/agents/{name}",
        "PUT /v1/agents/{name}",
        "DELETE /v1/agents/{name}",
        "GET /v1/calls",
        "GET /v1/calls/{id}",
        "GET /v1/incidents",
        "GET /v1/incidents/summary",
        "GET /v1/providers",
        "GET /v1/usage",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "POST /v1/call-tokens",
        "GET /v1/calls/ws",
        "POST /v1/calls/webrtc",
        "DELETE /v1/calls/webrtc/{call_id}",
        "POST /v1/telephony/twilio/voice",
        "GET /v1/telephony/twilio/stream",
        "GET /v1/telephony/telnyx/stream",
        "POST /v1/demo-links",
        "POST /v1/demo-links/call-token",
        "GET /widget.js",
        "GET /demo",
    ];
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(described, expected);
    let json = serde_json::to_value(&openapi).expect("serialises");
    assert!(json["components"]["securitySchemes"]["bearer"].is_object());
}

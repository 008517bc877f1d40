//! An in-process voxgate HTTP server on 127.0.0.1:0 with a reqwest client and API helpers.

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use voxgate::{
    health::HealthRegistry,
    http::{self, AppState, CallServices},
    provider::{
        directory::{ProviderDirectory, ProviderEndpoint},
        pipeline::StageTimeouts,
    },
    secret::Secret,
    store::{Durable, Hot},
    telemetry,
};
use voxgate_core::failover::{BreakerConfig, RetryBudgetConfig};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";
pub const BODY_LIMIT: usize = 64 * 1024;
pub const TWILIO_AUTH_TOKEN: &str = "twilio-test-auth-token";

/// A running server.
pub struct TestServer {
    pub base: String,
    pub client: Client,
    pub durable: Arc<dyn Durable>,
    /// The server's state, for endpoints started beside HTTP (SIP).
    pub state: AppState,
}

impl TestServer {
    pub async fn start(durable: Arc<dyn Durable>, hot: Arc<dyn Hot>) -> Self {
        // Nothing listens on port 9 (discard): calls fail to reach a provider.
        Self::start_with_realtime(durable, hot, "ws://127.0.0.1:9/v1/realtime").await
    }

    /// A server whose calls use the realtime endpoint at `realtime_url` (e.g. a simulator).
    pub async fn start_with_realtime(
        durable: Arc<dyn Durable>,
        hot: Arc<dyn Hot>,
        realtime_url: &str,
    ) -> Self {
        Self::start_with_calls(durable, hot, call_services(realtime_url)).await
    }

    /// A server with the given call services.
    pub async fn start_with_calls(
        durable: Arc<dyn Durable>,
        hot: Arc<dyn Hot>,
        calls: Arc<CallServices>,
    ) -> Self {
        let state = AppState {
            durable: durable.clone(),
            hot,
            admin_key: Some(Secret::new(ADMIN_KEY)),
            metrics: telemetry::metrics_handle(),
            calls,
        };
        let router = http::router(state.clone(), BODY_LIMIT);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base: format!("http://{addr}"),
            client: Client::new(),
            durable,
            state,
        }
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.request(Method::GET, path, key)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.request(Method::POST, path, key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// GET `path` as JSON, every 50 ms until `done` holds or 5 s pass; the last answer.
    pub async fn json_until(&self, path: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.get(path, key).await.json().await.expect("JSON answer");
            if done(&last) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        last
    }

    /// Creates a tenant with the admin key and mints a key for it; returns (tenant id, key).
    pub async fn tenant_with_key(&self, name: &str) -> (String, String) {
        let tenant: Value = self
            .post("/v1/tenants", ADMIN_KEY, &json!({"name": name}))
            .await
            .json()
            .await
            .expect("tenant json");
        let tenant_id = tenant["id"].as_str().expect("tenant id").to_owned();
        let key: Value = self
            .post(
                "/v1/api-keys",
                ADMIN_KEY,
                &json!({"tenant_id": tenant_id, "label": "test"}),
            )
            .await
            .json()
            .await
            .expect("key json");
        (tenant_id, key["key"].as_str().expect("key").to_owned())
    }
}

/// A valid agent spec body.
pub fn agent_body(name: &str) -> Value {
    json!({
        "name": name,
        "instructions": "You answer the phone for a dental clinic. Be brief.",
        "greeting": "Hello, you've reached the clinic.",
        "tools": [{
            "name": "book",
            "description": "Book an appointment",
            "parameters": {
                "type": "object",
                "properties": {"day": {"type": "string", "format": "date"}},
                "required": ["day"]
            }
        }]
    })
}

/// The `error.code` of an error response.
pub async fn error_code(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, body)
}

/// Call services for tests: the provider whose realtime endpoint is `realtime_url`
/// (`ws://ADDR/v1/realtime`; its HTTP base serves the pipeline), a fixed token key, and a
/// health registry of its own.
pub fn call_services(realtime_url: &str) -> Arc<CallServices> {
    let base_url = realtime_url
        .trim_end_matches("/realtime")
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    let provider = ProviderEndpoint {
        name: "sim".to_owned(),
        base_url,
        api_key: Secret::new("test-provider-key"),
    };
    Arc::new(CallServices {
        providers: ProviderDirectory::stand_in(provider),
        health: HealthRegistry::new(
            "test-node".to_owned(),
            BreakerConfig::default(),
            RetryBudgetConfig::default(),
            None,
        ),
        stage_timeouts: StageTimeouts::default(),
        token_key: Secret::new("test-call-token-key-0123456789abcdef"),
        node: "test-node".to_owned(),
        public_url: None,
        twilio_auth_token: Some(Secret::new(TWILIO_AUTH_TOKEN)),
        default_tenant: "default".to_owned(),
        provider_session_max: std::time::Duration::from_secs(3600),
        webrtc: voxgate::transport::webrtc::WebRtc::new(Default::default()),
    })
}

/// `probe()` every 20 ms until `done` holds or 5 s pass; the last value.
pub async fn poll_until<T>(mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let mut last = probe();
    for _ in 0..250 {
        if done(&last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        last = probe();
    }
    last
}

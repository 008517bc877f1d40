//! A voxgate test server whose calls reach an in-process provider simulator, with a tenant, a
//! key and an agent `desk` (no greeting) ready.

use super::{TempDir, TestServer, agent_body, call_services, memory, sqlite};
use std::sync::Arc;
use voxgate::{
    http::CallServices,
    provider::sim::{SimHandle, Simulator},
};

/// A WebSocket client connection.
pub type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Server, simulator and credentials for call tests.
pub struct CallSetup {
    pub server: TestServer,
    pub sim: SimHandle,
    pub key: String,
    pub tenant_id: String,
    _dir: TempDir,
}

impl CallSetup {
    pub async fn start() -> Self {
        Self::start_with(call_services).await
    }

    /// Like [`CallSetup::start`], with call services built from the simulator's URL.
    pub async fn start_with(services: impl FnOnce(&str) -> Arc<CallServices>) -> Self {
        let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator starts");
        let (durable, dir) = sqlite().await;
        let server =
            TestServer::start_with_calls(durable, memory(), services(&sim.realtime_url())).await;
        let (tenant_id, key) = server.tenant_with_key("acme").await;
        let mut agent = agent_body("desk");
        agent.as_object_mut().expect("object").remove("greeting");
        let created = server.post("/v1/agents", &key, &agent).await;
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
        Self {
            server,
            sim,
            key,
            tenant_id,
            _dir: dir,
        }
    }
}

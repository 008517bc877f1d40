//! WebRTC calls, terminated in voxgate with str0m: a browser (or any WebRTC peer) calls an agent
//! with one HTTP request, WHIP-style.
//!
//! - `POST /v1/calls/webrtc` with the SDP offer (`Content-Type: application/sdp`) and
//!   `Authorization: Bearer <call token minted with "transport": "webrtc">` → `201` with the SDP
//!   answer, `Location: /v1/calls/webrtc/{call_id}` and `X-Voxgate-Call-Secret` (`signal.rs`).
//! - `DELETE /v1/calls/webrtc/{call_id}` with `Authorization: Bearer <call secret>` ends the call.
//!
//! Media: Opus (preferred) or PCMU/PCMA, to and from the session's PCM16 at 24 kHz; agent audio
//! leaves at real-time pace in 20 ms frames and each chunk's mark is reported once its last frame
//! is sent. Events travel on a data channel labelled `events`, as the same JSON as the native
//! WebSocket's (`started`, `mode`, `transcript`, `agent_speaking`, `clear`, `ended`).
//!
//! One UDP socket and one task serve every call (`endpoint.rs`); voxgate is an ICE-lite server
//! with one host candidate, `webrtc.public_ip`:port. The socket is bound at boot by
//! [`WebRtc::start`] (or on first use). Owns no session logic: the driver and the session decide.

mod codec;
pub(crate) mod crypto;
mod endpoint;
mod peer;
mod registry;
mod sdp;
pub mod signal;

use crate::config::WebRtcConfig;
use endpoint::EndpointHandle;
use registry::Registry;
use std::{net::SocketAddr, sync::Arc};
use tokio::sync::OnceCell;

/// The WebRTC service of this node: its settings, its endpoint once started, its live calls.
#[derive(Clone, Debug)]
pub struct WebRtc {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: WebRtcConfig,
    endpoint: OnceCell<EndpointHandle>,
    registry: Arc<Registry>,
}

impl WebRtc {
    /// A service with these settings; nothing is bound yet.
    pub fn new(settings: WebRtcConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                endpoint: OnceCell::new(),
                registry: Arc::new(Registry::default()),
            }),
        }
    }

    /// Binds the UDP socket and starts the endpoint task (once); the address given to callers.
    pub async fn start(&self) -> std::io::Result<SocketAddr> {
        Ok(self.endpoint().await?.advertised)
    }

    /// WebRTC calls live on this node.
    pub fn live_calls(&self) -> usize {
        self.inner.registry.len()
    }

    async fn endpoint(&self) -> std::io::Result<&EndpointHandle> {
        let inner = &self.inner;
        inner
            .endpoint
            .get_or_try_init(|| endpoint::start(&inner.settings, inner.registry.clone()))
            .await
    }

    fn settings(&self) -> &WebRtcConfig {
        &self.inner.settings
    }

    fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }
}

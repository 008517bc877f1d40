//! `[webrtc]`: the UDP endpoint that carries WebRTC media, and its limits.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use voxgate_core::FieldError;

/// WebRTC settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// UDP address every WebRTC call's media uses. Default `127.0.0.1:0` (loopback, any free
    /// port: local development). In production open one port, e.g. `0.0.0.0:3478`, and set
    /// `public_ip`.
    pub udp_addr: SocketAddr,
    /// The address callers reach that port at, advertised as voxgate's ICE candidate. Default:
    /// the bound address, or 127.0.0.1 when bound to all interfaces.
    pub public_ip: Option<IpAddr>,
    /// WebRTC calls one tenant may have at once on this server (default 20).
    pub max_calls_per_tenant: u32,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        Self {
            udp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_ip: None,
            max_calls_per_tenant: 20,
        }
    }
}

impl WebRtcConfig {
    /// Problems with these settings.
    pub(super) fn validate(&self, problems: &mut Vec<FieldError>) {
        if self
            .public_ip
            .is_some_and(|ip| ip.is_unspecified() || ip.is_multicast())
        {
            problems.push(FieldError::new(
                "webrtc.public_ip",
                "must be an address callers can reach, not 0.0.0.0, :: or multicast",
            ));
        }
        if !(1..=10_000).contains(&self.max_calls_per_tenant) {
            problems.push(FieldError::new(
                "webrtc.max_calls_per_tenant",
                "must be between 1 and 10000",
            ));
        }
    }
}

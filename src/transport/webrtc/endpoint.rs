//! The WebRTC endpoint: ONE UDP socket for every WebRTC call on this node, its peers spread over
//! a few shard tasks (one per core) so that their Opus and SRTP work runs in parallel. str0m is
//! sans-IO, so one shard loop drives any number of `Rtc`s.
//!
//! - `demux.rs`: the one task that reads the socket and hands each datagram to the shard that
//!   owns its peer (STUN checks carry our ICE username; other packets follow their source
//!   address, learnt from those checks).
//! - `shard.rs`: a shard's loop: datagrams, control messages and peer deadlines in; datagrams
//!   out, sent straight on the shared socket.
//!
//! A call's shard is a pure function of its id, so session commands need no lookup.

mod demux;
mod shard;

use super::{crypto, peer::NewPeer, registry::Registry};
use crate::config::WebRtcConfig;
use demux::Routes;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};
use str0m::config::DtlsCert;
use tokio::{net::UdpSocket, sync::mpsc};
use uuid::Uuid;
use voxgate_core::session::ClientCommand;

/// Depth of each shard's control channel.
const CONTROL_DEPTH: usize = 4096;
/// Datagrams waiting for one shard; beyond that new ones are dropped (and counted), as the
/// kernel would drop them if nobody read the socket.
const DATAGRAM_DEPTH: usize = 4096;
/// Most shards, whatever the core count.
const MAX_SHARDS: usize = 8;
/// Socket buffers: 4 MiB holds about 20 000 audio packets, so a scheduling hiccup of a few hundred
/// milliseconds loses nothing even with hundreds of calls (the kernel caps it at
/// `net.core.rmem_max` / `wmem_max`).
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// What the rest of the server tells the endpoint.
pub(super) enum Control {
    /// A negotiated call to serve.
    Add(Box<NewPeer>),
    /// A session command for a call.
    Command(Uuid, ClientCommand),
    /// The call's driver has finished: close the connection.
    DriverDone(Uuid),
    /// The client asked to end the call (`DELETE`).
    End(Uuid),
}

impl Control {
    fn call_id(&self) -> Uuid {
        match self {
            Self::Add(new) => new.call_id,
            Self::Command(id, _) | Self::DriverDone(id) | Self::End(id) => *id,
        }
    }
}

/// The endpoint's tasks have stopped (the server is shutting down).
#[derive(Debug)]
pub(super) struct Stopped;

/// How to reach the running endpoint.
#[derive(Clone, Debug)]
pub(super) struct EndpointHandle {
    shards: Arc<[mpsc::Sender<Control>]>,
    routes: Arc<Routes>,
    /// The host candidate given to peers: the public IP and the bound port.
    pub advertised: SocketAddr,
    /// The DTLS certificate every `Rtc` of this process presents.
    pub cert: DtlsCert,
}

impl EndpointHandle {
    /// Delivers a control message to the shard of its call. A new peer's ICE username is routed
    /// before the message leaves, so its first STUN check finds the shard.
    pub(super) async fn send(&self, control: Control) -> Result<(), Stopped> {
        let shard = shard_of(control.call_id(), self.shards.len());
        if let Control::Add(new) = &control {
            self.routes.add_peer(&new.ufrag, shard);
        }
        let sender = self.shards.get(shard).ok_or(Stopped)?;
        sender.send(control).await.map_err(|_| Stopped)
    }
}

/// The shard that owns a call.
fn shard_of(call_id: Uuid, shards: usize) -> usize {
    usize::try_from(call_id.as_u128() % shards.max(1) as u128).unwrap_or(0)
}

/// Binds the socket and starts the demultiplexer and the shards.
pub(super) async fn start(
    settings: &WebRtcConfig,
    registry: Arc<Registry>,
) -> std::io::Result<EndpointHandle> {
    let socket = Arc::new(bind(settings.udp_addr)?);
    let bound = socket.local_addr()?;
    let ip = settings.public_ip.unwrap_or(match bound.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });
    let advertised = SocketAddr::new(ip, bound.port());
    let cert = crypto::self_signed().map_err(std::io::Error::other)?;
    let count = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_SHARDS);
    let routes = Arc::new(Routes::default());
    let mut controls = Vec::with_capacity(count);
    let mut inboxes = Vec::with_capacity(count);
    for index in 0..count {
        let (control, control_rx) = mpsc::channel(CONTROL_DEPTH);
        let (datagrams, datagram_rx) = mpsc::channel(DATAGRAM_DEPTH);
        controls.push(control);
        inboxes.push(datagrams);
        let shard = shard::Shard::new(
            index,
            socket.clone(),
            advertised,
            registry.clone(),
            routes.clone(),
        );
        tokio::spawn(shard.run(control_rx, datagram_rx));
    }
    tokio::spawn(demux::run(socket, routes.clone(), inboxes));
    tracing::info!(%bound, %advertised, shards = count, "WebRTC endpoint listening.");
    Ok(EndpointHandle {
        shards: controls.into(),
        routes,
        advertised,
        cert,
    })
}

/// A non-blocking UDP socket with large buffers.
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: an unprivileged process gets at most the kernel's maximum.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_spread_over_every_shard() {
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[shard_of(Uuid::new_v4(), 3)] += 1;
        }
        assert!(counts.iter().all(|&count| count > 800), "{counts:?}");
        assert_eq!(shard_of(Uuid::new_v4(), 1), 0);
    }
}

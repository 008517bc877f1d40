//! The WebRTC endpoint: ONE UDP socket and ONE task for every WebRTC call on this node (str0m is
//! sans-IO, so one loop can drive any number of `Rtc`s).
//!
//! The task owns every [`Peer`]. It waits for a datagram, a control message (a new call, a session
//! command, the end of a call) or the earliest peer deadline; feeds the input to the one peer it
//! concerns (datagrams go to the peer whose `Rtc` accepts them, remembered per source address);
//! ticks the peers that are due; sends what they produced; and drops the peers that are done.
//! It never awaits anything but the socket and its own channel.

use super::{
    crypto,
    peer::{Datagram, NewPeer, Peer},
    registry::Registry,
};
use crate::config::WebRtcConfig;
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};
use str0m::{
    Input,
    config::DtlsCert,
    net::{Protocol, Receive},
};
use tokio::{net::UdpSocket, sync::mpsc};
use uuid::Uuid;
use voxgate_core::session::ClientCommand;

/// Depth of the control channel shared by every call.
const CONTROL_DEPTH: usize = 8192;
/// Wake-up with no peer deadline (nothing to do but wait).
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Largest datagram read; bigger ones are truncated and then refused by str0m.
const MAX_DATAGRAM: usize = 2048;

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

/// How to reach the running endpoint.
#[derive(Clone, Debug)]
pub(super) struct EndpointHandle {
    /// Where to send control messages.
    pub control: mpsc::Sender<Control>,
    /// The host candidate given to peers: the public IP and the bound port.
    pub advertised: SocketAddr,
    /// The DTLS certificate every `Rtc` of this process presents.
    pub cert: DtlsCert,
}

/// Binds the socket and starts the task.
pub(super) async fn start(
    settings: &WebRtcConfig,
    registry: Arc<Registry>,
) -> std::io::Result<EndpointHandle> {
    let socket = UdpSocket::bind(settings.udp_addr).await?;
    let bound = socket.local_addr()?;
    let ip = settings.public_ip.unwrap_or(match bound.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });
    let advertised = SocketAddr::new(ip, bound.port());
    let cert = crypto::self_signed().map_err(std::io::Error::other)?;
    let (control, inbox) = mpsc::channel(CONTROL_DEPTH);
    tokio::spawn(run(socket, advertised, inbox, registry));
    tracing::info!(%bound, %advertised, "WebRTC endpoint listening.");
    Ok(EndpointHandle {
        control,
        advertised,
        cert,
    })
}

struct Endpoint {
    socket: UdpSocket,
    advertised: SocketAddr,
    registry: Arc<Registry>,
    peers: HashMap<Uuid, Peer>,
    routes: HashMap<SocketAddr, Uuid>,
    out: Vec<Datagram>,
}

async fn run(
    socket: UdpSocket,
    advertised: SocketAddr,
    mut inbox: mpsc::Receiver<Control>,
    registry: Arc<Registry>,
) {
    let mut endpoint = Endpoint {
        socket,
        advertised,
        registry,
        peers: HashMap::new(),
        routes: HashMap::new(),
        out: Vec::new(),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        let wake = endpoint
            .peers
            .values()
            .map(|peer| peer.next_wake(now))
            .min()
            .unwrap_or(now + IDLE_WAKE);
        tokio::select! {
            received = endpoint.socket.recv_from(&mut buf) => match received {
                Ok((len, source)) => endpoint.datagram(&buf[..len], source),
                // ICMP errors from a peer that went away surface here; the peer times out.
                Err(error) => tracing::debug!(%error, "WebRTC socket receive failed."),
            },
            control = inbox.recv() => match control {
                Some(control) => endpoint.control(control),
                None => break,
            },
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
        }
        endpoint.tick();
        endpoint.flush().await;
    }
    tracing::info!("WebRTC endpoint stopped.");
}

impl Endpoint {
    fn datagram(&mut self, bytes: &[u8], source: SocketAddr) {
        let now = Instant::now();
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.advertised, bytes) else {
            return;
        };
        let input = Input::Receive(now, receive);
        let known = self
            .routes
            .get(&source)
            .filter(|id| self.peers.get(id).is_some_and(|peer| peer.accepts(&input)))
            .copied();
        let found = known.or_else(|| {
            self.peers
                .iter()
                .find(|(_, peer)| peer.accepts(&input))
                .map(|(id, _)| *id)
        });
        let Some(id) = found else {
            return;
        };
        self.routes.insert(source, id);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.receive(now, input, &mut self.out);
        }
    }

    fn control(&mut self, control: Control) {
        let now = Instant::now();
        match control {
            Control::Add(new) => {
                let id = new.call_id;
                let peer = Peer::new(*new, now, &mut self.out);
                self.peers.insert(id, peer);
            }
            Control::Command(id, command) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.command(now, command, &mut self.out);
                }
            }
            Control::DriverDone(id) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.driver_done(now);
                } else {
                    self.registry.remove(id);
                }
            }
            Control::End(id) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.hang_up();
                }
            }
        }
    }

    /// Ticks the peers that are due and drops the finished ones.
    fn tick(&mut self) {
        let now = Instant::now();
        let mut finished = Vec::new();
        for (id, peer) in &mut self.peers {
            if peer.next_wake(now) <= now {
                peer.tick(now, &mut self.out);
            }
            if peer.is_finished(now) {
                finished.push(*id);
            }
        }
        for id in finished {
            if let Some(mut peer) = self.peers.remove(&id) {
                peer.close(now, &mut self.out);
            }
            self.routes.retain(|_, route| *route != id);
            self.registry.remove(id);
            tracing::debug!(call_id = %id, "WebRTC peer closed.");
        }
    }

    async fn flush(&mut self) {
        for (destination, bytes) in self.out.drain(..) {
            if let Err(error) = self.socket.send_to(&bytes, destination).await {
                tracing::debug!(%error, "WebRTC send failed.");
            }
        }
    }
}

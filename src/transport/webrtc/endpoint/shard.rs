//! One shard of the endpoint: a task that owns some of the node's peers. It waits for a datagram
//! (from the socket reader), a control message (a new call, a session command, the end of a call)
//! or the earliest peer deadline; feeds the input to the one peer it concerns; ticks the peers
//! that are due; sends what they produced on the shared socket; and drops the peers that are
//! done. It never awaits anything but its channels and, rarely, a full socket buffer.

use super::{Control, demux::Inbound, demux::Routes};
use crate::{
    telemetry,
    transport::webrtc::{
        peer::{Datagram, Peer},
        registry::Registry,
    },
};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};
use str0m::{
    Input,
    net::{Protocol, Receive},
};
use tokio::{net::UdpSocket, sync::mpsc};
use uuid::Uuid;

/// Wake-up with no peer deadline (nothing to do but wait).
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Datagrams handled per wake-up before the peers are ticked again.
const BATCH: usize = 64;

/// A shard's peers and what it needs to serve them.
pub(super) struct Shard {
    index: usize,
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
    registry: Arc<Registry>,
    routes: Arc<Routes>,
    peers: HashMap<Uuid, (Peer, String)>,
    by_source: HashMap<SocketAddr, Uuid>,
    out: Vec<Datagram>,
}

impl Shard {
    pub(super) fn new(
        index: usize,
        socket: Arc<UdpSocket>,
        advertised: SocketAddr,
        registry: Arc<Registry>,
        routes: Arc<Routes>,
    ) -> Self {
        Self {
            index,
            socket,
            advertised,
            registry,
            routes,
            peers: HashMap::new(),
            by_source: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// Serves until the control channel closes (every handle dropped: shutdown).
    pub(super) async fn run(
        mut self,
        mut controls: mpsc::Receiver<Control>,
        mut datagrams: mpsc::Receiver<Inbound>,
    ) {
        loop {
            let now = Instant::now();
            let wake = self
                .peers
                .values()
                .map(|(peer, _)| peer.next_wake())
                .min()
                .unwrap_or(now + IDLE_WAKE);
            tokio::select! {
                inbound = datagrams.recv() => {
                    let Some(inbound) = inbound else { break };
                    self.datagram(inbound);
                    // Take what else is waiting before ticking every peer again.
                    for _ in 1..BATCH {
                        let Ok(inbound) = datagrams.try_recv() else { break };
                        self.datagram(inbound);
                    }
                }
                control = controls.recv() => match control {
                    Some(control) => self.control(control),
                    None => break,
                },
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
            self.tick();
            self.flush().await;
        }
        tracing::info!(shard = self.index, "WebRTC shard stopped.");
    }

    fn datagram(&mut self, inbound: Inbound) {
        let Inbound { at, source, bytes } = inbound;
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.advertised, &bytes) else {
            return;
        };
        let input = Input::Receive(at, receive);
        let known = self
            .by_source
            .get(&source)
            .filter(|id| {
                self.peers
                    .get(id)
                    .is_some_and(|(peer, _)| peer.accepts(&input))
            })
            .copied();
        let found = known.or_else(|| {
            self.peers
                .iter()
                .find(|(_, (peer, _))| peer.accepts(&input))
                .map(|(id, _)| *id)
        });
        let Some(id) = found else {
            return;
        };
        self.by_source.insert(source, id);
        if let Some((peer, _)) = self.peers.get_mut(&id) {
            peer.receive(at, input, &mut self.out);
        }
    }

    fn control(&mut self, control: Control) {
        let now = Instant::now();
        match control {
            Control::Add(new) => {
                let id = new.call_id;
                let ufrag = new.ufrag.clone();
                let peer = Peer::new(*new, now, &mut self.out);
                self.peers.insert(id, (peer, ufrag));
                metrics::gauge!(telemetry::WEBRTC_PEERS).increment(1.0);
            }
            Control::Command(id, command) => {
                if let Some((peer, _)) = self.peers.get_mut(&id) {
                    peer.command(now, command, &mut self.out);
                }
            }
            Control::DriverDone(id) => {
                if let Some((peer, _)) = self.peers.get_mut(&id) {
                    peer.driver_done(now);
                } else {
                    self.registry.remove(id);
                }
            }
            Control::End(id) => {
                if let Some((peer, _)) = self.peers.get_mut(&id) {
                    peer.hang_up();
                }
            }
        }
    }

    /// Ticks the peers that are due and drops the finished ones.
    fn tick(&mut self) {
        let now = Instant::now();
        let mut finished = Vec::new();
        for (id, (peer, _)) in &mut self.peers {
            if peer.next_wake() <= now {
                peer.tick(now, &mut self.out);
            }
            if peer.is_finished(now) {
                finished.push(*id);
            }
        }
        for id in finished {
            if let Some((mut peer, ufrag)) = self.peers.remove(&id) {
                peer.close(now, &mut self.out);
                self.routes.remove_peer(&ufrag);
                metrics::gauge!(telemetry::WEBRTC_PEERS).decrement(1.0);
            }
            self.by_source.retain(|_, route| *route != id);
            self.registry.remove(id);
            tracing::debug!(call_id = %id, "WebRTC peer closed.");
        }
    }

    /// Sends what the peers produced; UDP rarely blocks, so the await is the exception.
    async fn flush(&mut self) {
        for (destination, bytes) in self.out.drain(..) {
            let sent = match self.socket.try_send_to(&bytes, destination) {
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    self.socket.send_to(&bytes, destination).await
                }
                other => other,
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "WebRTC send failed.");
            }
        }
    }
}

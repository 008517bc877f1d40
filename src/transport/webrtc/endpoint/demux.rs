//! The socket's reader: hands each datagram to the shard that owns its peer.
//!
//! A peer's first datagrams are STUN connectivity checks whose USERNAME starts with the ICE ufrag
//! of our answer, which names the peer, hence its shard; the check's source address is then
//! remembered for that shard. Every other packet (DTLS, SRTP, SCTP) is routed by its source
//! address. Datagrams from unknown sources are dropped here, before any parsing beyond STUN.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Instant,
};
use str0m::ice::StunMessage;
use tokio::{
    net::UdpSocket,
    sync::mpsc::{self, error::TrySendError},
};

/// Largest datagram read; bigger ones are truncated and then refused by str0m.
const MAX_DATAGRAM: usize = 2048;

/// A datagram on its way to a shard.
pub(super) struct Inbound {
    /// When it was read.
    pub at: Instant,
    /// Who sent it.
    pub source: SocketAddr,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Tables {
    /// Our ICE ufrag of each live peer → its shard.
    ufrags: HashMap<String, usize>,
    /// A peer's source address → (its shard, its ufrag).
    sources: HashMap<SocketAddr, (usize, String)>,
}

/// Which shard each live peer is on, by ICE ufrag and by source address.
#[derive(Debug, Default)]
pub(super) struct Routes(Mutex<Tables>);

impl Routes {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Each change is one map operation, so the tables stay consistent across a panic.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new peer, answered with ICE ufrag `ufrag`, lives on `shard`.
    pub(super) fn add_peer(&self, ufrag: &str, shard: usize) {
        self.lock().ufrags.insert(ufrag.to_owned(), shard);
    }

    /// The peer answered with `ufrag` is gone.
    pub(super) fn remove_peer(&self, ufrag: &str) {
        let mut tables = self.lock();
        tables.ufrags.remove(ufrag);
        tables.sources.retain(|_, (_, owner)| owner != ufrag);
    }

    /// The shard for a datagram from `source`, learning the source from STUN checks.
    fn shard_for(&self, bytes: &[u8], source: SocketAddr) -> Option<usize> {
        let mut tables = self.lock();
        if let Some(ufrag) = stun_local_ufrag(bytes)
            && let Some(&shard) = tables.ufrags.get(ufrag)
        {
            // A check can come from a new address (the peer's network changed): it wins.
            if tables
                .sources
                .get(&source)
                .is_none_or(|(_, known)| known != ufrag)
            {
                tables.sources.insert(source, (shard, ufrag.to_owned()));
            }
            return Some(shard);
        }
        tables.sources.get(&source).map(|(shard, _)| *shard)
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.lock().sources.len()
    }
}

/// Our ufrag in a STUN binding request (`USERNAME` is `ours:theirs`), if `bytes` is one.
fn stun_local_ufrag(bytes: &[u8]) -> Option<&str> {
    // STUN's first two bits are zero (RFC 7983): RTP, RTCP and DTLS never start with 0 or 1.
    if bytes.first().is_none_or(|&first| first > 1) {
        return None;
    }
    let message = StunMessage::parse(bytes).ok()?;
    if !message.is_binding_request() {
        return None;
    }
    let username = message.username()?;
    username.split_once(':').map(|(ours, _)| ours)
}

/// Reads the socket until every shard has stopped.
pub(super) async fn run(
    socket: Arc<UdpSocket>,
    routes: Arc<Routes>,
    shards: Vec<mpsc::Sender<Inbound>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, source) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // ICMP errors from a peer that went away surface here; the peer times out.
            Err(error) => {
                tracing::debug!(%error, "WebRTC socket receive failed.");
                continue;
            }
        };
        let Some(bytes) = buf.get(..len) else {
            continue;
        };
        let Some(shard) = routes
            .shard_for(bytes, source)
            .and_then(|at| shards.get(at))
        else {
            metrics::counter!(crate::telemetry::WEBRTC_DATAGRAMS_DROPPED, "why" => "unknown_source")
                .increment(1);
            continue;
        };
        let inbound = Inbound {
            at: Instant::now(),
            source,
            bytes: bytes.to_vec(),
        };
        match shard.try_send(inbound) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!(crate::telemetry::WEBRTC_DATAGRAMS_DROPPED, "why" => "shard_behind")
                    .increment(1);
            }
            Err(TrySendError::Closed(_)) => {
                if shards.iter().all(mpsc::Sender::is_closed) {
                    break;
                }
            }
        }
    }
    tracing::info!("WebRTC socket reader stopped.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::ice::TransId;

    fn binding_request(username: &str) -> Vec<u8> {
        let message = StunMessage::binding_request(username, TransId::new(), true, 1, 100, false);
        let mut buf = vec![0u8; 512];
        // Routing never checks the integrity (str0m does), so any HMAC will do here.
        let len = message
            .to_bytes(Some(b"password"), &mut buf, |_, _| [0u8; 20])
            .expect("STUN serialises");
        buf.truncate(len);
        buf
    }

    #[test]
    fn stun_checks_name_the_shard_and_teach_the_source() {
        let routes = Routes::default();
        routes.add_peer("ours1", 1);
        let source: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let srtp = [0x80u8, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(routes.shard_for(&srtp, source), None, "unknown source");
        assert_eq!(
            routes.shard_for(&binding_request("ours1:theirs"), source),
            Some(1)
        );
        assert_eq!(
            routes.shard_for(&srtp, source),
            Some(1),
            "learnt from the check"
        );
        assert_eq!(
            routes.shard_for(&binding_request("other:theirs"), source),
            Some(1)
        );
        routes.remove_peer("ours1");
        assert_eq!(
            routes.shard_for(&srtp, source),
            None,
            "forgotten with its peer"
        );
        assert_eq!(routes.sources(), 0);
    }

    #[test]
    fn media_and_garbage_are_not_stun() {
        assert_eq!(stun_local_ufrag(&[]), None);
        assert_eq!(stun_local_ufrag(&[0x80, 0, 0, 0]), None);
        assert_eq!(stun_local_ufrag(&[22, 254, 253, 0]), None, "DTLS");
        assert_eq!(
            stun_local_ufrag(&[0, 1, 0, 0, 0x21, 0x12]),
            None,
            "truncated"
        );
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>() & 0x01).collect();
            let _ = stun_local_ufrag(&bytes);
        }
        assert_eq!(stun_local_ufrag(&binding_request("abc:def")), Some("abc"));
    }
}

//! A SIP call's media: the SDP offer/answer ([`sdp`]: PCMU, PCMA or Opus, and DTMF) and the RTP
//! leg that carries the call's audio and DTMF between the caller's UDP socket and the session
//! ([`leg`], driven by [`run`]; the codecs' state is in [`codec`]).
//!
//! Owns one UDP socket and one task per call. Signalling (INVITE, BYE, re-INVITE, transfer by
//! REFER) is not here: the SIP side answers with [`sdp::answer`], binds with [`bind_rtp`], spawns
//! [`run`], fires its `stop` on BYE or CANCEL and acts on the [`MediaEnd`] it returns.

pub(crate) mod codec;
pub(crate) mod dtmf;
pub(crate) mod leg;
pub(crate) mod rtp;
pub(crate) mod sdp;

#[cfg(test)]
mod tests;

pub(crate) use sdp::{Negotiated, SdpError, answer, reanswer};

use leg::{RtpLeg, Stream};
use std::{
    io,
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    time::Duration,
};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
    time::Instant,
};
use voxgate_core::session::{ClientCommand, ClientEvent, EndReason};

/// No RTP from the peer for this long ends the call (RFC 3550 peers send every 20 ms, or at
/// least comfort noise).
pub(crate) const MEDIA_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest datagram read; RTP audio packets are a few hundred bytes.
const MAX_DATAGRAM: usize = 2048;

/// Why a call's media ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MediaEnd {
    /// The session ended the call ([`ClientCommand::Ended`]); the SIP side sends BYE.
    SessionEnded(EndReason),
    /// The agent transferred the call; the SIP side sends REFER (or BYE if it cannot).
    Transfer {
        /// The SIP URI to send the caller to.
        target: String,
    },
    /// Signalling stopped the media (BYE or CANCEL); the session was told the caller hung up.
    Stopped,
    /// No RTP from the peer for [`MEDIA_TIMEOUT`]; the session was told the caller hung up.
    MediaTimeout,
    /// The call's driver went away without ending the session (a bug or a crash).
    DriverGone,
    /// The call's codec could not start (Opus only; never seen); the session was told the
    /// caller hung up.
    CodecFailed,
}

/// Binds a UDP socket on an even port of `ports` (RTP on even ports, RFC 3550 §11), trying each
/// in turn from a random starting point so concurrent calls rarely race for the same port.
pub(crate) async fn bind_rtp(ip: IpAddr, ports: RangeInclusive<u16>) -> io::Result<UdpSocket> {
    let first = ports.start().saturating_add(ports.start() % 2);
    let evens = u32::from(ports.end().saturating_sub(first)) / 2 + 1;
    if first > *ports.end() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the RTP port range holds no even port",
        ));
    }
    let offset = rand::random::<u32>() % evens;
    let mut last_error = None;
    for step in 0..evens {
        let index = (offset + step) % evens;
        let Ok(port) = u16::try_from(u32::from(first) + 2 * index) else {
            continue;
        };
        match UdpSocket::bind(SocketAddr::new(ip, port)).await {
            Ok(socket) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// Runs a call's media until the session ends it, signalling stops it, or the peer goes quiet.
/// On `stop` (BYE, CANCEL) or a media timeout the session gets [`ClientEvent::Hangup`] first.
/// `signalling` is where the INVITE came from (RTP from there may latch, see [`leg`]).
pub(crate) async fn run(
    socket: UdpSocket,
    negotiated: Negotiated,
    signalling: IpAddr,
    events: mpsc::Sender<ClientEvent>,
    commands: mpsc::Receiver<ClientCommand>,
    stop: oneshot::Receiver<()>,
) -> MediaEnd {
    run_for(
        socket,
        negotiated,
        signalling,
        events,
        commands,
        stop,
        MEDIA_TIMEOUT,
    )
    .await
}

/// [`run`] with a media timeout of `quiet_limit`.
#[allow(clippy::too_many_arguments)]
async fn run_for(
    socket: UdpSocket,
    negotiated: Negotiated,
    signalling: IpAddr,
    events: mpsc::Sender<ClientEvent>,
    mut commands: mpsc::Receiver<ClientCommand>,
    mut stop: oneshot::Receiver<()>,
    quiet_limit: Duration,
) -> MediaEnd {
    let mut leg = match RtpLeg::new(&negotiated, signalling, Stream::random()) {
        Ok(leg) => leg,
        Err(error) => {
            tracing::error!(
                code = error.code(),
                "The call's audio codec could not start."
            );
            let _ = events.send(ClientEvent::Hangup).await;
            return MediaEnd::CodecFailed;
        }
    };
    let started = Instant::now();
    let mut buffer = [0u8; MAX_DATAGRAM];
    let end = loop {
        let wake = leg.poll_timeout().map(Instant::from_std);
        let heard = leg.last_heard().map_or(started, Instant::from_std);
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                // Errors on an unconnected UDP socket are transient (e.g. an ICMP report).
                if let Ok((len, from)) = received
                    && leg.receive(Instant::now().into_std(), from, &buffer[..len])
                {
                    metrics::counter!(crate::telemetry::AUDIO_FRAMES_IN).increment(1);
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { break MediaEnd::DriverGone };
                if let Some(end) = leg.command(Instant::now().into_std(), command) {
                    break end;
                }
            }
            () = sleep_until_some(wake) => leg.handle_timeout(Instant::now().into_std()),
            () = tokio::time::sleep_until(heard + quiet_limit) => break MediaEnd::MediaTimeout,
            _ = &mut stop => break MediaEnd::Stopped,
        }
        if !flush(&mut leg, &socket, &events).await {
            break MediaEnd::DriverGone;
        }
    };
    if matches!(end, MediaEnd::Stopped | MediaEnd::MediaTimeout) {
        let _ = events.send(ClientEvent::Hangup).await;
    }
    end
}

/// Sends what the leg has for the socket and the session; false once the session is gone.
async fn flush(leg: &mut RtpLeg, socket: &UdpSocket, events: &mpsc::Sender<ClientEvent>) -> bool {
    while let Some(datagram) = leg.poll_transmit() {
        // A lost datagram is a lost frame; UDP gives no better guarantee anyway.
        let _ = socket.send_to(datagram.bytes(), datagram.to).await;
    }
    while let Some(event) = leg.poll_event() {
        if events.send(event).await.is_err() {
            return false;
        }
    }
    true
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

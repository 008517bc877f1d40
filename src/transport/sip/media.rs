//! STUB, replaced at merge by the real RTP media module (written on another branch). It has
//! the planned API so the signalling compiles and its tests run: a minimal SDP answer (PCMU or
//! PCMA), an RTP socket, and a `run` that carries no audio and only waits for the session to
//! end or for the caller to hang up.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
};
use voxgate_core::session::{AudioFormat, ClientCommand, ClientEvent, EndReason};

/// Why an offer can't be answered.
#[derive(Debug, thiserror::Error)]
pub enum SdpError {
    /// Not SDP (answered 400).
    #[error("the SDP offer is malformed")]
    Malformed,
    /// No audio section (488).
    #[error("the offer has no audio")]
    NoAudio,
    /// No codec voxgate speaks (488).
    #[error("no common codec")]
    NoCommonCodec,
}

/// What offer and answer agreed on.
#[derive(Clone, Debug)]
pub struct Negotiated {
    /// The session's audio format.
    pub format: AudioFormat,
    /// Payload type.
    pub payload_type: u8,
    /// Where the caller wants RTP.
    pub remote: Option<SocketAddr>,
}

/// How a call's media ended.
#[derive(Debug)]
pub enum MediaEnd {
    /// The session ended the call.
    SessionEnded(EndReason),
    /// The agent transferred the caller.
    Transfer {
        /// SIP URI to REFER the caller to.
        target: String,
    },
    /// `stop` fired (the caller hung up).
    Stopped,
    /// No RTP from the caller for too long.
    MediaTimeout,
}

/// Answers an SDP offer with PCMU or PCMA on `local_rtp`.
pub fn answer(
    offer: &[u8],
    local_rtp: SocketAddr,
    session_version: u64,
) -> Result<(String, Negotiated), SdpError> {
    let text = std::str::from_utf8(offer).map_err(|_| SdpError::Malformed)?;
    if !text.starts_with("v=0") {
        return Err(SdpError::Malformed);
    }
    let media = text
        .lines()
        .find_map(|line| line.strip_prefix("m=audio "))
        .ok_or(SdpError::NoAudio)?;
    let payloads: Vec<&str> = media.split_whitespace().skip(2).collect();
    let (payload_type, format, name) = if payloads.contains(&"0") {
        (0, AudioFormat::Pcmu, "PCMU")
    } else if payloads.contains(&"8") {
        (8, AudioFormat::Pcma, "PCMA")
    } else {
        return Err(SdpError::NoCommonCodec);
    };
    let ip = local_rtp.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let port = local_rtp.port();
    let sdp = format!(
        "v=0\r\no=voxgate {session_version} {session_version} IN {family} {ip}\r\ns=voxgate\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {payload_type}\r\n\
         a=rtpmap:{payload_type} {name}/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    Ok((
        sdp,
        Negotiated {
            format,
            payload_type,
            remote: None,
        },
    ))
}

/// Whether a re-INVITE's offer keeps the negotiated media.
pub fn reoffer_compatible(offer: &[u8], negotiated: &Negotiated) -> bool {
    std::str::from_utf8(offer).is_ok_and(|text| {
        text.lines()
            .filter_map(|line| line.strip_prefix("m=audio "))
            .any(|m| {
                m.split_whitespace()
                    .skip(2)
                    .any(|pt| pt == negotiated.payload_type.to_string())
            })
    })
}

/// Binds a UDP socket for RTP on the first free port of `ports`.
pub async fn bind_rtp(ip: IpAddr, ports: RangeInclusive<u16>) -> io::Result<UdpSocket> {
    for port in ports {
        if let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
            return Ok(socket);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free RTP port in the range",
    ))
}

/// Runs the call's media until the session ends or `stop` fires. The stub moves no audio.
pub async fn run(
    _socket: UdpSocket,
    _negotiated: Negotiated,
    events: mpsc::Sender<ClientEvent>,
    mut commands: mpsc::Receiver<ClientCommand>,
    mut stop: oneshot::Receiver<()>,
) -> MediaEnd {
    loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = events.send(ClientEvent::Hangup).await;
                return MediaEnd::Stopped;
            }
            command = commands.recv() => match command {
                Some(ClientCommand::Ended(reason)) => return MediaEnd::SessionEnded(reason),
                Some(_) => {}
                None => return MediaEnd::SessionEnded(EndReason::ProviderFailure),
            },
        }
    }
}

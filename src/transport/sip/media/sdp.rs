//! SDP offer/answer for a SIP call's plain RTP/AVP audio (RFC 4566, RFC 3264): reads an offer,
//! picks the first of PCMU, PCMA and Opus in the offerer's order (Opus answered as mono:
//! `opus/48000/2` with `stereo=0;sprop-stereo=0`, no in-band FEC) and RFC 4733 `telephone-event`
//! (always at 8000 Hz, whatever the audio clock) when offered, and writes the answer. Only the lines voxgate needs are read; everything else is skipped.
//!
//! Owns nothing but text: no sockets, no dialog state. The signalling side maps [`SdpError`] to a
//! SIP status with [`SdpError::status`] (400 for a broken body, 488 for one we cannot serve).

use std::{fmt::Write as _, net::IpAddr, net::SocketAddr};

/// Largest SDP body read (offers are a few hundred bytes).
const MAX_SDP_BYTES: usize = 16 * 1024;

/// The audio codec of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SipCodec {
    /// G.711 μ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus (RFC 7587), a dynamic payload type, always `opus/48000/2` in SDP; sent mono.
    Opus,
}

impl SipCodec {
    /// The `a=rtpmap` encoding (name, clock rate and, for Opus, channels).
    pub(crate) fn rtpmap(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU/8000",
            Self::Pcma => "PCMA/8000",
            Self::Opus => "opus/48000/2",
        }
    }

    /// The RTP clock rate.
    pub(crate) fn clock_hz(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::Opus => 48_000,
        }
    }

    /// RTP timestamp ticks per 20 ms packet.
    pub(crate) fn ticks_per_frame(self) -> u32 {
        self.clock_hz() / 50
    }

    fn of(name: &str, clock: u32) -> Option<Self> {
        match (name.to_ascii_uppercase().as_str(), clock) {
            ("PCMU", 8000) => Some(Self::Pcmu),
            ("PCMA", 8000) => Some(Self::Pcma),
            ("OPUS", 48_000) => Some(Self::Opus),
            _ => None,
        }
    }
}

/// What an offer/answer exchange settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The audio codec, both ways.
    pub codec: SipCodec,
    /// Its RTP payload type (as the offerer numbered it).
    pub payload_type: u8,
    /// RFC 4733 `telephone-event` payload type, when offered.
    pub dtmf_payload_type: Option<u8>,
    /// Where the offer asked us to send RTP (until symmetric RTP learns the real source).
    pub remote_rtp: SocketAddr,
    /// The offer's direction for the audio stream (absent means sendrecv).
    pub direction: Direction,
}

/// Why an offer cannot be answered.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SdpError {
    /// The body is not SDP we can read.
    #[error("malformed SDP: {0}")]
    Malformed(&'static str),
    /// No usable `m=audio` line (none, or every one rejected with port 0).
    #[error("the offer has no audio stream")]
    NoAudio,
    /// Audio is offered only over a transport we do not speak (SRTP, TCP, IPv6, ...).
    #[error("the offered audio transport is not supported (voxgate speaks RTP/AVP over IPv4)")]
    UnsupportedTransport,
    /// Audio is offered without PCMU, PCMA or Opus (or not the codec an existing call uses).
    #[error("no common audio codec (voxgate speaks PCMU, PCMA and Opus)")]
    NoCommonCodec,
    /// A re-offer moves the media (address, port, payload types) or changes its direction
    /// (hold): the running leg cannot follow.
    #[error("the re-offer changes the running media (address, port, payload type or direction)")]
    MediaChanged,
}

impl SdpError {
    /// The SIP status to reject the offer with: 400 Bad Request or 488 Not Acceptable Here.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::NoAudio
            | Self::UnsupportedTransport
            | Self::NoCommonCodec
            | Self::MediaChanged => 488,
        }
    }

    /// Stable code for logs and metrics.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "sdp_malformed",
            Self::NoAudio => "sdp_no_audio",
            Self::UnsupportedTransport => "sdp_unsupported_transport",
            Self::NoCommonCodec => "sdp_no_common_codec",
            Self::MediaChanged => "sdp_media_changed",
        }
    }
}

/// Which way media flows, from the offerer's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Both ways (also when the offer says nothing).
    SendRecv,
    /// The offerer only sends (it holds the call).
    SendOnly,
    /// The offerer only receives.
    RecvOnly,
    /// Neither way.
    Inactive,
}

impl Direction {
    fn of(attribute: &str) -> Option<Self> {
        match attribute {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// Our answer's attribute: the mirror image of the offer's.
    fn answer(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "recvonly",
            Self::RecvOnly => "sendonly",
            Self::Inactive => "inactive",
        }
    }
}

/// One `m=` section of an offer.
#[derive(Debug)]
struct Media<'a> {
    kind: &'a str,
    port: u16,
    proto: &'a str,
    formats: Vec<&'a str>,
    /// (payload type, encoding name, clock rate) from `a=rtpmap`.
    rtpmaps: Vec<(u8, &'a str, u32)>,
    connection: Option<IpAddr>,
    direction: Option<Direction>,
}

/// The parts of an offer that matter here.
#[derive(Debug)]
struct Offer<'a> {
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    media: Vec<Media<'a>>,
}

/// Parses `offer`, chooses the audio stream and codec, and writes the answer with our RTP address
/// `local_rtp` (its IP must be the one the peer can reach) and `o=` version `session_version`
/// (bump it for every new answer in the same dialog).
pub(crate) fn answer(
    offer: &[u8],
    local_rtp: SocketAddr,
    session_version: u64,
) -> Result<(String, Negotiated), SdpError> {
    answer_with(offer, local_rtp, session_version, None)
}

/// Answers a re-INVITE's offer for a call already running with `current`: the same codec must
/// still be offered, else [`SdpError::NoCommonCodec`]; and the running leg cannot move or hold,
/// so a new address, port, payload type or direction is [`SdpError::MediaChanged`]. Both are
/// 488, and the call keeps its media as it was.
pub(crate) fn reanswer(
    offer: &[u8],
    current: &Negotiated,
    local_rtp: SocketAddr,
    session_version: u64,
) -> Result<(String, Negotiated), SdpError> {
    let (text, negotiated) = answer_with(offer, local_rtp, session_version, Some(current.codec))?;
    if negotiated != *current {
        return Err(SdpError::MediaChanged);
    }
    Ok((text, negotiated))
}

fn answer_with(
    offer: &[u8],
    local_rtp: SocketAddr,
    session_version: u64,
    codec: Option<SipCodec>,
) -> Result<(String, Negotiated), SdpError> {
    let text = read_text(offer)?;
    let offer = parse(text)?;
    let (index, negotiated, direction) = choose(&offer, codec)?;
    let text = write_answer(
        &offer,
        index,
        &negotiated,
        direction,
        local_rtp,
        session_version,
    );
    Ok((text, negotiated))
}

fn read_text(offer: &[u8]) -> Result<&str, SdpError> {
    if offer.len() > MAX_SDP_BYTES {
        return Err(SdpError::Malformed("the body is too large"));
    }
    std::str::from_utf8(offer).map_err(|_| SdpError::Malformed("the body is not UTF-8"))
}

fn parse(text: &str) -> Result<Offer<'_>, SdpError> {
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty());
    if lines.next() != Some("v=0") {
        return Err(SdpError::Malformed("it does not start with v=0"));
    }
    let mut offer = Offer {
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    for line in lines {
        let (kind, value) = match line.as_bytes() {
            [kind, b'=', ..] if kind.is_ascii_lowercase() => (*kind, &line[2..]),
            _ => return Err(SdpError::Malformed("a line is not of the form x=value")),
        };
        match (kind, offer.media.last_mut()) {
            (b'm', _) => offer.media.push(media_line(value)?),
            (b'c', None) => offer.connection = Some(connection(value)?),
            (b'c', Some(media)) => media.connection = Some(connection(value)?),
            (b'a', None) => offer.direction = offer.direction.or(Direction::of(value)),
            (b'a', Some(media)) => attribute(media, value)?,
            _ => {}
        }
    }
    Ok(offer)
}

fn media_line(value: &str) -> Result<Media<'_>, SdpError> {
    let mut fields = value.split(' ').filter(|field| !field.is_empty());
    let (Some(kind), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::Malformed("an m= line has too few fields"));
    };
    let port = port.split('/').next().unwrap_or(port);
    let port = port
        .parse()
        .map_err(|_| SdpError::Malformed("an m= line has a bad port"))?;
    Ok(Media {
        kind,
        port,
        proto,
        formats: fields.collect(),
        rtpmaps: Vec::new(),
        connection: None,
        direction: None,
    })
}

/// `IN IP4 <address>`; an IPv6 or unknown address type is read as "no usable address".
fn connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut fields = value.split(' ').filter(|field| !field.is_empty());
    match (fields.next(), fields.next(), fields.next()) {
        (Some("IN"), Some("IP4"), Some(address)) => {
            // Multicast offers may carry a TTL (`224.2.1.1/127`); we do not serve multicast.
            let address = address.split('/').next().unwrap_or(address);
            address
                .parse()
                .map_err(|_| SdpError::Malformed("a c= line has a bad IPv4 address"))
        }
        (Some("IN"), Some(_), Some(_)) => Err(SdpError::UnsupportedTransport),
        _ => Err(SdpError::Malformed("a c= line is not IN <type> <address>")),
    }
}

fn attribute<'a>(media: &mut Media<'a>, value: &'a str) -> Result<(), SdpError> {
    if let Some(direction) = Direction::of(value) {
        media.direction = Some(direction);
        return Ok(());
    }
    let Some(map) = value.strip_prefix("rtpmap:") else {
        return Ok(());
    };
    let bad = SdpError::Malformed("an a=rtpmap line is not <pt> <name>/<clock>");
    let (pt, encoding) = map.split_once(' ').ok_or(bad.clone())?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().ok_or(bad.clone())?;
    let clock = parts.next().and_then(|clock| clock.parse().ok());
    let (Ok(pt), Some(clock)) = (pt.parse::<u8>(), clock) else {
        return Err(bad);
    };
    if pt < 128 {
        media.rtpmaps.push((pt, name, clock));
    }
    Ok(())
}

/// The first audio stream we can serve: its index, what it settles, and its direction.
fn choose(
    offer: &Offer<'_>,
    required: Option<SipCodec>,
) -> Result<(usize, Negotiated, Direction), SdpError> {
    let mut error = SdpError::NoAudio;
    for (index, media) in offer.media.iter().enumerate() {
        if media.kind != "audio" || media.port == 0 {
            continue;
        }
        if media.proto != "RTP/AVP" {
            error = SdpError::UnsupportedTransport;
            continue;
        }
        let Some(ip) = media.connection.or(offer.connection) else {
            return Err(SdpError::Malformed("no c= line for the audio stream"));
        };
        let Some((codec, payload_type)) = pick_codec(media, required) else {
            error = SdpError::NoCommonCodec;
            continue;
        };
        let direction = media
            .direction
            .or(offer.direction)
            .unwrap_or(Direction::SendRecv);
        let negotiated = Negotiated {
            codec,
            payload_type,
            dtmf_payload_type: telephone_event(media),
            remote_rtp: SocketAddr::new(ip, media.port),
            direction,
        };
        return Ok((index, negotiated, direction));
    }
    Err(error)
}

/// The first offered format that is PCMU, PCMA or Opus (and `required`, if given).
fn pick_codec(media: &Media<'_>, required: Option<SipCodec>) -> Option<(SipCodec, u8)> {
    media.formats.iter().find_map(|format| {
        let pt: u8 = format.parse().ok().filter(|&pt| pt < 128)?;
        let codec = match media.rtpmaps.iter().find(|(mapped, _, _)| *mapped == pt) {
            Some(&(_, name, clock)) => SipCodec::of(name, clock)?,
            None if pt == 0 => SipCodec::Pcmu,
            None if pt == 8 => SipCodec::Pcma,
            None => return None,
        };
        required
            .is_none_or(|required| required == codec)
            .then_some((codec, pt))
    })
}

/// The `telephone-event/8000` payload type, if it is among the offered formats.
fn telephone_event(media: &Media<'_>) -> Option<u8> {
    media.rtpmaps.iter().find_map(|&(pt, name, clock)| {
        let offered = media.formats.contains(&pt.to_string().as_str());
        (offered && clock == 8000 && name.eq_ignore_ascii_case("telephone-event")).then_some(pt)
    })
}

fn write_answer(
    offer: &Offer<'_>,
    chosen: usize,
    negotiated: &Negotiated,
    direction: Direction,
    local_rtp: SocketAddr,
    session_version: u64,
) -> String {
    let ip = local_rtp.ip();
    let mut out = String::with_capacity(320);
    // The session id only has to be unique on this host while the call lasts: the RTP port is.
    let _ = write!(
        out,
        "v=0\r\no=voxgate {} {session_version} IN IP4 {ip}\r\ns=voxgate\r\nc=IN IP4 {ip}\r\nt=0 0\r\n",
        local_rtp.port()
    );
    for (index, media) in offer.media.iter().enumerate() {
        if index != chosen {
            // RFC 3264 §6: every offered stream gets an m= line; the ones we do not take, port 0.
            let format = media.formats.first().copied().unwrap_or("0");
            let _ = write!(out, "m={} 0 {} {format}\r\n", media.kind, media.proto);
            continue;
        }
        let pt = negotiated.payload_type;
        let _ = write!(out, "m=audio {} RTP/AVP {pt}", local_rtp.port());
        if let Some(dtmf) = negotiated.dtmf_payload_type {
            let _ = write!(out, " {dtmf}");
        }
        let _ = write!(out, "\r\na=rtpmap:{pt} {}\r\n", negotiated.codec.rtpmap());
        if negotiated.codec == SipCodec::Opus {
            let _ = write!(
                out,
                "a=fmtp:{pt} useinbandfec=0;stereo=0;sprop-stereo=0\r\n"
            );
        }
        if let Some(dtmf) = negotiated.dtmf_payload_type {
            let _ = write!(
                out,
                "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-15\r\n"
            );
        }
        let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.answer());
    }
    out
}

#[cfg(test)]
mod tests;

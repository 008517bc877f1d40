//! One call's RTP leg, sans-IO: datagrams and session commands in (with the time), caller audio,
//! digits, played marks and datagrams to send out. [`super::run`] is the socket around it.
//!
//! Receive: packets of the negotiated payload type go through the core's [`PlayoutBuffer`]
//! (60 ms target) and leave as the session's G.711 [`AudioChunk`]s, one packet's worth per 20 ms
//! of wall time. G.711 has no loss concealment of its own, so a single lost packet is replaced
//! by a repeat of the one before it (speech changes little in 20 ms) and a longer gap by
//! silence. Telephone-event packets become one digit per key press ([`DtmfReceiver`]). A new
//! SSRC (the peer restarted its stream) starts a fresh buffer.
//!
//! Symmetric RTP: until the first valid packet we send to the address the SDP named; after it,
//! to that packet's source, and packets from any other source are dropped. Only a packet from
//! the SDP's address or the INVITE's signalling source can latch (no RTP bleed from a stranger
//! who guesses the port); others are dropped and counted.
//!
//! Send: agent audio is decoded to 8 kHz PCM and queued in the core's [`Pacer`], which releases
//! one 160-sample frame per 20 ms (no burst after a stall) and reports each mark once its audio
//! is sent; frames are re-encoded in the call's codec. Sequence numbers and timestamps run on
//! from a random start; after a pause the timestamp jumps by the pause and the marker bit is set.

use super::{
    MediaEnd,
    dtmf::DtmfReceiver,
    rtp::{self, HEADER_BYTES, Header},
    sdp::{G711Codec, Negotiated},
};
use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};
use voxgate_core::{
    audio::{Pacer, Playout, PlayoutBuffer, g711},
    session::{AudioChunk, AudioFormat, ClientCommand, ClientEvent, EndReason},
};

/// Samples (and G.711 bytes) in 20 ms at 8 kHz.
const FRAME: usize = 160;
/// One frame period.
const PERIOD: Duration = Duration::from_millis(20);
/// Caller packets held before playout starts (60 ms).
const JITTER_TARGET: usize = 3;
/// Most caller packets held (500 ms).
const JITTER_CAPACITY: usize = 25;
/// Bytes of one packet we send.
pub(crate) const PACKET_BYTES: usize = HEADER_BYTES + FRAME;

/// A datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// Where to.
    pub to: SocketAddr,
    /// The RTP packet.
    pub bytes: [u8; PACKET_BYTES],
}

/// The send side's stream identity and position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stream {
    /// Our SSRC.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// Timestamp of the next packet.
    pub timestamp: u32,
}

impl Stream {
    /// A random SSRC, sequence number and timestamp start (RFC 3550 §5.1).
    pub(crate) fn random() -> Self {
        Self {
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
        }
    }
}

/// Caller audio on its way to the session.
struct Receive {
    buffer: PlayoutBuffer<Vec<u8>>,
    /// (when playout started, bytes played since)
    clock: Option<(Instant, u64)>,
    /// The SSRC the buffer's sequence numbers belong to.
    ssrc: Option<u32>,
    /// The last frame played, for concealing a single loss.
    last: Vec<u8>,
    /// Losses in a row so far.
    lost_run: u32,
}

impl Receive {
    fn new() -> Self {
        Self {
            buffer: PlayoutBuffer::new(JITTER_TARGET, JITTER_CAPACITY),
            clock: None,
            ssrc: None,
            last: Vec::new(),
            lost_run: 0,
        }
    }

    /// Bytes of audio due by `now`: one frame to try starting with, then 20 ms worth per 20 ms.
    fn due(&self, now: Instant) -> u64 {
        match self.clock {
            None => FRAME as u64,
            Some((start, played)) => {
                let ticks =
                    (now.saturating_duration_since(start).as_millis() / PERIOD.as_millis()) as u64;
                ((ticks + 1) * FRAME as u64).saturating_sub(played)
            }
        }
    }

    /// When more audio falls due, while playing.
    fn next_due(&self) -> Option<Instant> {
        let (start, played) = self.clock?;
        let ticks = u32::try_from(played / FRAME as u64).unwrap_or(u32::MAX);
        Some(start + PERIOD * ticks)
    }
}

/// One call's RTP leg. See the module docs.
pub(crate) struct RtpLeg {
    codec: G711Codec,
    payload_type: u8,
    dtmf_payload_type: Option<u8>,
    remote: SocketAddr,
    /// Where the INVITE came from: the other address allowed to latch.
    signalling: IpAddr,
    latched: bool,
    /// Packets dropped before latching because of their source.
    foreign: u64,
    receive: Receive,
    dtmf: DtmfReceiver,
    last_heard: Option<Instant>,
    pacer: Pacer,
    stream: Stream,
    /// When the last packet was sent.
    last_sent: Option<Instant>,
    pcm: Vec<i16>,
    encoded: Vec<u8>,
    events: VecDeque<ClientEvent>,
    transmits: VecDeque<Outgoing>,
    transfer: Option<String>,
}

impl RtpLeg {
    /// A leg for what the SDP exchange settled with the peer whose INVITE came from
    /// `signalling`, sending as `stream`.
    pub(crate) fn new(negotiated: &Negotiated, signalling: IpAddr, stream: Stream) -> Self {
        Self {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            dtmf_payload_type: negotiated.dtmf_payload_type,
            remote: negotiated.remote_rtp,
            signalling,
            latched: false,
            foreign: 0,
            receive: Receive::new(),
            dtmf: DtmfReceiver::default(),
            last_heard: None,
            pacer: Pacer::new(FRAME),
            stream,
            last_sent: None,
            pcm: Vec::with_capacity(FRAME * 4),
            encoded: Vec::with_capacity(FRAME),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            transfer: None,
        }
    }

    /// The session's audio format for this leg (G.711 passes through to the provider).
    pub(crate) fn format(&self) -> AudioFormat {
        session_format(self.codec)
    }

    /// Where packets go now.
    #[cfg(test)]
    pub(crate) fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// When the last valid packet from the peer arrived.
    pub(crate) fn last_heard(&self) -> Option<Instant> {
        self.last_heard
    }

    /// A datagram from `from`. Not RTP, another payload type, (before latching) a source that
    /// is neither the SDP's nor the signalling's address, or (once latched) another source:
    /// dropped. True when it was a caller audio packet, taken into the jitter buffer (whether it
    /// plays now, later or never because it came too late).
    pub(crate) fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(packet) = rtp::parse(datagram) else {
            return false;
        };
        if self.latched && from != self.remote {
            return false;
        }
        let is_audio = packet.payload_type == self.payload_type;
        let is_dtmf = Some(packet.payload_type) == self.dtmf_payload_type;
        if !is_audio && !is_dtmf {
            return false;
        }
        if !self.latched && from.ip() != self.remote.ip() && from.ip() != self.signalling {
            self.foreign += 1;
            if self.foreign.is_power_of_two() {
                tracing::debug!(
                    dropped = self.foreign,
                    "RTP from an unexpected source dropped before latching."
                );
            }
            return false;
        }
        self.remote = from;
        self.latched = true;
        self.last_heard = Some(now);
        if is_dtmf {
            if let Some(digit) = self.dtmf.receive(packet.timestamp, packet.payload) {
                self.events.push_back(ClientEvent::Dtmf(digit));
            }
            return false;
        }
        if self.receive.ssrc != Some(packet.ssrc) {
            self.receive = Receive::new();
            self.receive.ssrc = Some(packet.ssrc);
        }
        self.receive
            .buffer
            .push(packet.seq, packet.payload.to_vec());
        self.play_due(now);
        true
    }

    /// A command from the session; `Some` when it ends the leg.
    pub(crate) fn command(&mut self, now: Instant, command: ClientCommand) -> Option<MediaEnd> {
        match command {
            ClientCommand::Audio { chunk, mark } => {
                self.queue(&chunk);
                self.pacer.push(&self.pcm, Some(mark));
                self.send_due(now);
            }
            ClientCommand::ClearPlayback => {
                // The session forgets the marks of cleared audio; they are not reported.
                self.pacer.clear();
            }
            ClientCommand::Transfer { target_uri } => self.transfer = Some(target_uri),
            ClientCommand::Ended(EndReason::Transferred) => {
                return Some(match self.transfer.take() {
                    Some(target) => MediaEnd::Transfer { target },
                    None => MediaEnd::SessionEnded(EndReason::Transferred),
                });
            }
            ClientCommand::Ended(reason) => return Some(MediaEnd::SessionEnded(reason)),
            ClientCommand::AgentSpeaking(_)
            | ClientCommand::Transcript { .. }
            | ClientCommand::Mode(_) => {}
        }
        None
    }

    /// Time has reached [`RtpLeg::poll_timeout`].
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.play_due(now);
        self.send_due(now);
    }

    /// When [`RtpLeg::handle_timeout`] is next due; `None` while idle both ways.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let receive = self.receive.next_due();
        match (receive, self.pacer.next_tick()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event for the session.
    pub(crate) fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.transmits.pop_front()
    }

    /// Decodes agent audio into `self.pcm` (8 kHz samples).
    fn queue(&mut self, chunk: &AudioChunk) {
        self.pcm.clear();
        match chunk.format {
            AudioFormat::Pcmu => g711::ulaw_decode_into(&chunk.data, &mut self.pcm),
            AudioFormat::Pcma => g711::alaw_decode_into(&chunk.data, &mut self.pcm),
            AudioFormat::Pcm16 { rate: 8000 } => self.pcm.extend(
                chunk
                    .data
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            ),
            // The session speaks the format the call started with; anything else is a bug
            // upstream, and its mark is still reported so the session does not wait forever.
            AudioFormat::Pcm16 { .. } => {}
        }
    }

    /// Plays caller audio due by `now` out of the jitter buffer.
    fn play_due(&mut self, now: Instant) {
        let mut due = self.receive.due(now);
        for _ in 0..JITTER_CAPACITY {
            if due == 0 {
                break;
            }
            let data = match self.receive.buffer.pop() {
                Playout::Frame(data) => {
                    self.receive.lost_run = 0;
                    self.receive.last.clone_from(&data);
                    data
                }
                Playout::Lost => self.conceal(),
                Playout::Waiting => {
                    self.receive.clock = None;
                    return;
                }
            };
            let played = (data.len() as u64).max(1);
            due = due.saturating_sub(played);
            self.receive.clock = Some(match self.receive.clock {
                Some((start, bytes)) => (start, bytes + played),
                None => (now, played),
            });
            let chunk = AudioChunk {
                format: self.format(),
                data,
            };
            self.events.push_back(ClientEvent::Audio(chunk));
        }
    }

    /// A frame standing in for a lost one: the previous frame once, then silence.
    fn conceal(&mut self) -> Vec<u8> {
        self.receive.lost_run += 1;
        let len = if self.receive.last.is_empty() {
            FRAME
        } else {
            self.receive.last.len()
        };
        if self.receive.lost_run == 1 && !self.receive.last.is_empty() {
            self.receive.last.clone()
        } else {
            vec![self.codec.silence(); len]
        }
    }

    /// Sends the agent frame due by `now`, if any, and reports marks now played.
    fn send_due(&mut self, now: Instant) {
        let tick = self.pacer.tick(now);
        if let Some(frame) = tick.frame {
            self.packetize(now, &frame);
        }
        self.events
            .extend(tick.played.into_iter().map(ClientEvent::MarkPlayed));
    }

    fn packetize(&mut self, now: Instant, frame: &[i16]) {
        let gap = self
            .last_sent
            .map(|last| now.saturating_duration_since(last));
        let talkspurt = gap.is_none_or(|gap| gap >= PERIOD * 2);
        if let Some(gap) = gap.filter(|_| talkspurt) {
            // The frames not sent during the pause still advance the media clock.
            let skipped = (gap.as_millis() / PERIOD.as_millis()).saturating_sub(1);
            let skipped = u32::try_from(skipped).unwrap_or(u32::MAX);
            self.stream.timestamp = self
                .stream
                .timestamp
                .wrapping_add(skipped.wrapping_mul(FRAME as u32));
        }
        self.last_sent = Some(now);
        let header = Header {
            marker: talkspurt,
            payload_type: self.payload_type,
            seq: self.stream.seq,
            timestamp: self.stream.timestamp,
            ssrc: self.stream.ssrc,
        };
        self.stream.seq = self.stream.seq.wrapping_add(1);
        self.stream.timestamp = self.stream.timestamp.wrapping_add(FRAME as u32);
        self.encoded.clear();
        match self.codec {
            G711Codec::Pcmu => g711::ulaw_encode_into(frame, &mut self.encoded),
            G711Codec::Pcma => g711::alaw_encode_into(frame, &mut self.encoded),
        }
        if self.remote.ip().is_unspecified()
            || self.remote.port() == 0
            || self.encoded.len() != FRAME
        {
            return;
        }
        let mut bytes = [0; PACKET_BYTES];
        bytes[..HEADER_BYTES].copy_from_slice(&header.to_bytes());
        bytes[HEADER_BYTES..].copy_from_slice(&self.encoded);
        self.transmits.push_back(Outgoing {
            to: self.remote,
            bytes,
        });
    }
}

/// The session's audio format for a codec.
pub(crate) fn session_format(codec: G711Codec) -> AudioFormat {
    match codec {
        G711Codec::Pcmu => AudioFormat::Pcmu,
        G711Codec::Pcma => AudioFormat::Pcma,
    }
}

#[cfg(test)]
mod tests;

//! One call's RTP leg, sans-IO: datagrams and session commands in (with the time), caller audio,
//! digits, played marks and datagrams to send out. [`super::run`] is the socket around it.
//!
//! Receive: packets of the negotiated payload type go through the core's [`PlayoutBuffer`]
//! (60 ms target) and leave as the session's [`AudioChunk`]s, one packet's worth per 20 ms of
//! wall time: G.711 untouched, Opus decoded to PCM16 at 24 kHz. Lost packets are concealed by
//! the codec state ([`super::codec`]: a repeat then silence for G.711, the decoder's own
//! concealment for Opus). Telephone-event packets (their own 8000 Hz clock, whatever the audio
//! codec's) become one digit per key press ([`DtmfReceiver`]). A new
//! SSRC (the peer restarted its stream) starts a fresh buffer.
//!
//! Symmetric RTP: until the first valid packet we send to the address the SDP named; after it,
//! to that packet's source, and packets from any other source are dropped. Only a packet from
//! the SDP's address or the INVITE's signalling source can latch (no RTP bleed from a stranger
//! who guesses the port); others are dropped and counted.
//!
//! Send: agent audio is turned into PCM (G.711 decoded to 8 kHz; Opus calls get PCM16 at 24 kHz
//! from the session) and queued in the core's [`Pacer`], which releases one 20 ms frame (160 or
//! 480 samples) per 20 ms (no burst after a stall) and reports each mark once its audio is sent;
//! frames are encoded in the call's codec. Sequence numbers and timestamps run on from a random
//! start, the timestamp 160 (G.711) or 960 (Opus, 48 kHz clock) per packet; after a pause it
//! jumps by the pause and the marker bit is set.

use super::{
    MediaEnd,
    codec::{Decoder, Encoder, G711_FRAME},
    dtmf::DtmfReceiver,
    rtp::{self, HEADER_BYTES, Header},
    sdp::{Negotiated, SipCodec},
};
use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};
use voxgate_core::{
    audio::{OpusError, Pacer, Playout, PlayoutBuffer},
    session::{AudioChunk, AudioFormat, ClientCommand, ClientEvent, EndReason},
};

/// Playout clock units (8 kHz sample periods) in 20 ms.
const FRAME: usize = G711_FRAME;
/// One frame period.
const PERIOD: Duration = Duration::from_millis(20);
/// Caller packets held before playout starts (60 ms).
const JITTER_TARGET: usize = 3;
/// Most caller packets held (500 ms).
const JITTER_CAPACITY: usize = 25;
/// Largest payload we send: a 20 ms G.711 frame is 160 bytes, an Opus one at 32 kb/s 80.
const MAX_PAYLOAD: usize = 320;
/// Largest packet we send.
const PACKET_BYTES: usize = HEADER_BYTES + MAX_PAYLOAD;

/// A datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// Where to.
    pub to: SocketAddr,
    len: usize,
    data: [u8; PACKET_BYTES],
}

impl Outgoing {
    /// The RTP packet.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
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
}

impl Receive {
    fn new() -> Self {
        Self {
            buffer: PlayoutBuffer::new(JITTER_TARGET, JITTER_CAPACITY),
            clock: None,
            ssrc: None,
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
    codec: SipCodec,
    decoder: Decoder,
    encoder: Encoder,
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
    /// `signalling`, sending as `stream`. Fails only if the Opus codec cannot start.
    pub(crate) fn new(
        negotiated: &Negotiated,
        signalling: IpAddr,
        stream: Stream,
    ) -> Result<Self, OpusError> {
        let encoder = Encoder::new(negotiated.codec)?;
        let frame = encoder.frame_samples();
        Ok(Self {
            codec: negotiated.codec,
            decoder: Decoder::new(negotiated.codec)?,
            encoder,
            payload_type: negotiated.payload_type,
            dtmf_payload_type: negotiated.dtmf_payload_type,
            remote: negotiated.remote_rtp,
            signalling,
            latched: false,
            foreign: 0,
            receive: Receive::new(),
            dtmf: DtmfReceiver::default(),
            last_heard: None,
            pacer: Pacer::new(frame),
            stream,
            last_sent: None,
            pcm: Vec::with_capacity(frame * 4),
            encoded: Vec::with_capacity(MAX_PAYLOAD),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            transfer: None,
        })
    }

    /// The session's audio format for this leg (G.711 passes through to the provider, Opus is
    /// PCM16 at 24 kHz).
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
                self.pcm.clear();
                self.encoder.pcm_of(&chunk, &mut self.pcm);
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

    /// Plays caller audio due by `now` out of the jitter buffer.
    fn play_due(&mut self, now: Instant) {
        let mut due = self.receive.due(now);
        for _ in 0..JITTER_CAPACITY {
            if due == 0 {
                break;
            }
            let data = match self.receive.buffer.pop() {
                Playout::Frame(payload) => self.decoder.frame(payload),
                Playout::Lost => self.decoder.lost(),
                Playout::Waiting => {
                    self.receive.clock = None;
                    return;
                }
            };
            let played = self.decoder.periods(data.len()).max(1);
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
                .wrapping_add(skipped.wrapping_mul(self.codec.ticks_per_frame()));
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
        self.stream.timestamp = self
            .stream
            .timestamp
            .wrapping_add(self.codec.ticks_per_frame());
        if !self.encoder.encode(frame, &mut self.encoded)
            || self.remote.ip().is_unspecified()
            || self.remote.port() == 0
            || self.encoded.is_empty()
            || self.encoded.len() > MAX_PAYLOAD
        {
            return;
        }
        let len = HEADER_BYTES + self.encoded.len();
        let mut data = [0; PACKET_BYTES];
        data[..HEADER_BYTES].copy_from_slice(&header.to_bytes());
        data[HEADER_BYTES..len].copy_from_slice(&self.encoded);
        self.transmits.push_back(Outgoing {
            to: self.remote,
            len,
            data,
        });
    }
}

pub(crate) use super::codec::session_format;

#[cfg(test)]
mod opus_tests;
#[cfg(test)]
mod tests;

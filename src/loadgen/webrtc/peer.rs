//! The caller's side of one WebRTC call: a str0m `Rtc` (a full ICE agent, not ICE-lite) with one
//! host candidate on its own loopback UDP socket, an Opus `sendrecv` audio section and the
//! `events` data channel; driven from the caller's task.
//!
//! Every mutation of the `Rtc` is followed by a full drain of `poll_output`, as str0m requires;
//! datagrams go out with `try_send_to` (loopback UDP does not block; a refused one is a lost
//! packet, as on a network).

use crate::transport::webrtc::crypto;
use serde_json::Value;
use std::time::{Duration, Instant};
use str0m::{
    Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig,
    change::{SdpAnswer, SdpPendingOffer},
    format::Codec,
    media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt},
    net::{Protocol, Receive},
};
use tokio::net::UdpSocket;
use voxgate_core::audio::{OpusDecoder, SampleRate, rms_dbfs};

/// The data channel that carries the call's JSON events.
const EVENTS_LABEL: &str = "events";
/// Agent frames quieter than this are silence (not the answer starting).
const SILENT_DBFS: f32 = -60.0;
/// Opus's RTP clock ticks in 20 ms.
const OPUS_TICKS_PER_FRAME: u64 = 960;

/// What the caller heard.
#[derive(Debug, Default)]
pub(super) struct Heard {
    /// `started` arrived on the data channel.
    pub(super) started: bool,
    /// Agent audio packets received.
    pub(super) agent_frames: u64,
    /// End of a speech stretch → first non-silent agent frame after it.
    pub(super) turn_latencies: Vec<Duration>,
}

/// One caller's peer connection.
pub(super) struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: std::net::SocketAddr,
    buf: Vec<u8>,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    pt: Option<Pt>,
    rtc_due: Instant,
    connected: bool,
    decoder: OpusDecoder,
    decoded: Vec<i16>,
    speech_ended: Option<Instant>,
    heard: Heard,
}

impl Peer {
    /// A new peer and its SDP offer.
    pub(super) async fn offer() -> anyhow::Result<(Self, String)> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(crypto::provider())
            .clear_codecs()
            .enable_opus(true, false)
            .build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        api.add_channel(EVENTS_LABEL.to_owned());
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| anyhow::anyhow!("str0m made no offer"))?;
        let peer = Self {
            rtc,
            socket,
            local,
            buf: vec![0; 2000],
            mid,
            pending: Some(pending),
            pt: None,
            rtc_due: now,
            connected: false,
            decoder: OpusDecoder::with_rate(SampleRate::Hz24k)?,
            decoded: Vec::with_capacity(2048),
            speech_ended: None,
            heard: Heard::default(),
        };
        Ok((peer, offer.to_sdp_string()))
    }

    /// Applies the server's answer.
    pub(super) fn accept(&mut self, answer: SdpAnswer) -> anyhow::Result<()> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| anyhow::anyhow!("the answer was already applied"))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.drain(Instant::now())
    }

    /// ICE and DTLS are up.
    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection is not closed.
    pub(super) fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// A speech stretch just ended: the next non-silent agent frame measures a turn.
    pub(super) fn speech_ended(&mut self, at: Instant) {
        self.speech_ended = Some(at);
    }

    /// What was heard, once the call is over.
    pub(super) fn into_heard(self) -> Heard {
        self.heard
    }

    /// Drives the connection until `done` holds (true) or `deadline` passes (false).
    pub(super) async fn run_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<bool> {
        loop {
            if done(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= self.rtc_due && self.rtc.is_alive() {
                self.rtc.handle_input(Input::Timeout(now))?;
                self.drain(now)?;
                continue;
            }
            if now >= deadline {
                return Ok(false);
            }
            let wake = if self.rtc.is_alive() {
                self.rtc_due.min(deadline)
            } else {
                deadline
            };
            let received = tokio::select! {
                received = self.socket.recv_from(&mut self.buf) => Some(received?),
                () = tokio::time::sleep_until(wake.into()) => None,
            };
            if let Some((len, source)) = received {
                self.receive(len, source)?;
            }
        }
    }

    fn receive(&mut self, len: usize, source: std::net::SocketAddr) -> anyhow::Result<()> {
        let now = Instant::now();
        let Some(bytes) = self.buf.get(..len) else {
            return Ok(());
        };
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, bytes) else {
            return Ok(());
        };
        if self.rtc.is_alive() {
            self.rtc.handle_input(Input::Receive(now, receive))?;
            self.drain(now)?;
        }
        Ok(())
    }

    /// Sends one 20 ms Opus packet as RTP packet `seq`.
    pub(super) fn send_audio(&mut self, seq: u64, payload: &[u8]) -> anyhow::Result<()> {
        let pt = match self.pt {
            Some(pt) => pt,
            None => {
                let pt = self.opus_pt()?;
                self.pt = Some(pt);
                pt
            }
        };
        let now = Instant::now();
        let writer = self
            .rtc
            .writer(self.mid)
            .ok_or_else(|| anyhow::anyhow!("the audio section cannot send"))?;
        let time = MediaTime::new(seq * OPUS_TICKS_PER_FRAME, Frequency::FORTY_EIGHT_KHZ);
        writer.write(pt, now, time, payload.to_vec())?;
        self.drain(now)
    }

    /// The negotiated Opus payload type.
    fn opus_pt(&mut self) -> anyhow::Result<Pt> {
        let writer = self
            .rtc
            .writer(self.mid)
            .ok_or_else(|| anyhow::anyhow!("the audio section cannot send"))?;
        writer
            .payload_params()
            .find(|params| params.spec().codec == Codec::Opus)
            .map(|params| params.pt())
            .ok_or_else(|| anyhow::anyhow!("the answer has no Opus"))
    }

    /// Polls the `Rtc` until it only has a timeout left.
    fn drain(&mut self, now: Instant) -> anyhow::Result<()> {
        loop {
            if !self.rtc.is_alive() {
                self.rtc_due = now + Duration::from_secs(1);
                return Ok(());
            }
            match self.rtc.poll_output()? {
                Output::Timeout(at) => {
                    self.rtc_due = at;
                    return Ok(());
                }
                Output::Transmit(transmit) => {
                    let _ = self
                        .socket
                        .try_send_to(&transmit.contents, transmit.destination);
                }
                Output::Event(event) => self.event(event),
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::debug!("Loadgen WebRTC caller: ICE disconnected.");
            }
            Event::MediaData(data) if data.mid == self.mid => {
                self.heard.agent_frames += 1;
                // Decoding is only needed to find the first loud frame of an answer.
                let Some(ended) = self.speech_ended else {
                    return;
                };
                self.decoded.clear();
                if self.decoder.decode(&data.data, &mut self.decoded).is_ok()
                    && rms_dbfs(&self.decoded) > SILENT_DBFS
                {
                    self.heard.turn_latencies.push(ended.elapsed());
                    self.speech_ended = None;
                }
            }
            Event::ChannelData(data) if !data.binary => {
                let kind = serde_json::from_slice::<Value>(&data.data)
                    .ok()
                    .and_then(|event| event["type"].as_str().map(str::to_owned));
                if kind.as_deref() == Some("started") {
                    self.heard.started = true;
                }
            }
            _ => {}
        }
    }
}

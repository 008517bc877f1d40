//! A peer's audio both ways: RTP payloads in → session audio (PCM16, 24 kHz); session audio →
//! queued, paced 20 ms frames → RTP payloads out, in the codec the answer preferred.

use super::super::{
    codec::{AudioCodec, Decoder, Encoder, RATE_HZ},
    playout::{Frame, Playout},
};
use crate::transport::ws::message::{pcm16_from_bytes, pcm16_to_bytes};
use std::time::Instant;
use str0m::{
    Rtc,
    format::PayloadParams,
    media::{Frequency, MediaData, MediaTime, Mid, Pt},
};
use voxgate_core::session::{AudioChunk, AudioFormat, MarkId};

/// The session's audio format.
pub(in crate::transport::webrtc) const SESSION_FORMAT: AudioFormat =
    AudioFormat::Pcm16 { rate: RATE_HZ };

struct Sending {
    pt: Pt,
    codec: AudioCodec,
    encoder: Encoder,
    epoch: Instant,
}

/// The audio half of a peer.
#[derive(Default)]
pub(super) struct Audio {
    mid: Option<Mid>,
    sending: Option<Sending>,
    decoder: Option<(AudioCodec, Decoder)>,
    playout: Playout,
    decoded: Vec<i16>,
}

impl Audio {
    /// The caller's audio section.
    pub(super) fn set_mid(&mut self, mid: Mid) {
        self.mid.get_or_insert(mid);
    }

    /// Picks the codec to send with, once the connection is up: the first of the negotiated
    /// payload types that voxgate speaks, Opus first. False when there is none.
    pub(super) fn start(&mut self, rtc: &mut Rtc, now: Instant) -> bool {
        let Some(writer) = self.mid.and_then(|mid| rtc.writer(mid)) else {
            return false;
        };
        let mut offered: Vec<(AudioCodec, Pt)> = writer
            .payload_params()
            .filter_map(|p: &PayloadParams| AudioCodec::of(p.spec().codec).map(|c| (c, p.pt())))
            .collect();
        offered.sort_by_key(|(codec, _)| *codec as u8);
        let Some(&(codec, pt)) = offered.first() else {
            return false;
        };
        let Ok(encoder) = Encoder::new(codec) else {
            return false;
        };
        self.sending = Some(Sending {
            pt,
            codec,
            encoder,
            epoch: now,
        });
        true
    }

    /// The codec audio is sent in, once started.
    pub(super) fn send_codec(&self) -> Option<AudioCodec> {
        self.sending.as_ref().map(|sending| sending.codec)
    }

    /// Decodes one incoming packet into session audio; `None` for other media or a bad packet.
    pub(super) fn incoming(&mut self, data: &MediaData) -> Option<AudioChunk> {
        if Some(data.mid) != self.mid {
            return None;
        }
        let codec = AudioCodec::of(data.params.spec().codec)?;
        if self.decoder.as_ref().map(|(c, _)| *c) != Some(codec) {
            self.decoder = Some((codec, Decoder::new(codec).ok()?));
        }
        let (_, decoder) = self.decoder.as_mut()?;
        self.decoded.clear();
        decoder.decode(&data.data, &mut self.decoded).ok()?;
        Some(AudioChunk {
            format: SESSION_FORMAT,
            data: pcm16_to_bytes(&self.decoded),
        })
    }

    /// Queues agent audio (PCM16 at 24 kHz) and its mark.
    pub(super) fn queue(&mut self, chunk: &AudioChunk, mark: MarkId) {
        let samples = match chunk.format {
            SESSION_FORMAT => pcm16_from_bytes(&chunk.data).unwrap_or_default(),
            // The session speaks the format it was started with; anything else is a bug upstream.
            _ => Vec::new(),
        };
        self.playout.push(&samples, mark);
    }

    /// Drops queued agent audio; how many milliseconds were dropped.
    pub(super) fn clear(&mut self) -> u64 {
        self.playout.clear() as u64 / 24
    }

    /// When the next frame is due, once sending has started.
    pub(super) fn next_due(&self, now: Instant) -> Option<Instant> {
        self.sending.as_ref()?;
        self.playout.next_due(now)
    }

    /// The next due frame, once sending has started.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Frame> {
        self.sending.as_ref()?;
        self.playout.pop_due(now)
    }

    /// Encodes and writes one frame (a mutation of `rtc`: drain it next).
    pub(super) fn write(&mut self, rtc: &mut Rtc, frame: &Frame) -> Result<(), String> {
        if frame.samples.is_empty() {
            return Ok(());
        }
        let (Some(sending), Some(mid)) = (self.sending.as_mut(), self.mid) else {
            return Ok(());
        };
        let payload = sending
            .encoder
            .encode(&frame.samples)
            .map_err(|error| error.to_string())?;
        let clock = sending.codec.clock_hz();
        let elapsed = frame.due.saturating_duration_since(sending.epoch);
        let ticks =
            u64::try_from(elapsed.as_micros() * u128::from(clock) / 1_000_000).unwrap_or_default();
        let frequency = Frequency::new(clock as u32).unwrap_or(Frequency::FORTY_EIGHT_KHZ);
        let writer = rtc.writer(mid).ok_or("the audio section cannot send")?;
        writer
            .write(
                sending.pt,
                frame.due,
                MediaTime::new(ticks, frequency),
                payload,
            )
            .map_err(|error| error.to_string())
    }
}

//! A peer's audio both ways: RTP payloads in → session audio (PCM16, 24 kHz); session audio →
//! queued, paced 20 ms frames → RTP payloads out, in the codec the answer preferred.

use super::super::codec::{AudioCodec, Decoder, Encoder, FRAME_SAMPLES, RATE_HZ};
use crate::transport::ws::message::{pcm16_from_bytes, pcm16_to_bytes};
use std::time::Duration;
use std::time::Instant;
use str0m::{
    Rtc,
    format::PayloadParams,
    media::{Frequency, MediaData, MediaTime, Mid, Pt},
};
use voxgate_core::{
    audio::{Pacer, Playout as Received, PlayoutBuffer},
    session::{AudioChunk, AudioFormat, MarkId},
};

/// Caller packets held before playout starts: 60 ms absorbs network jitter on a call.
const JITTER_TARGET: usize = 3;
/// Most caller packets held (500 ms); beyond that the oldest go.
const JITTER_CAPACITY: usize = 25;
/// One packet's worth of caller audio.
const PACKET_TIME: Duration = Duration::from_millis(20);

/// The session's audio format.
pub(in crate::transport::webrtc) const SESSION_FORMAT: AudioFormat =
    AudioFormat::Pcm16 { rate: RATE_HZ };

struct Sending {
    pt: Pt,
    codec: AudioCodec,
    encoder: Encoder,
    epoch: Instant,
}

/// A frame of agent audio ready to encode and send.
#[derive(Debug)]
pub(super) struct Frame {
    /// 20 ms at 24 kHz; empty when only marks are reported.
    pub samples: Vec<i16>,
    /// Its place on the 20 ms grid: the frame's media time.
    pub due: Instant,
    /// Marks whose audio is now all sent.
    pub marks: Vec<MarkId>,
}

/// The audio half of a peer.
pub(super) struct Audio {
    mid: Option<Mid>,
    sending: Option<Sending>,
    decoder: Option<(AudioCodec, Decoder)>,
    /// Caller packets in sequence order, repaired for reordering and loss.
    jitter: Jitter,
    /// Agent audio, released one 20 ms frame per 20 ms (late ticks skipped, never burst).
    pacer: Pacer,
    decoded: Vec<i16>,
}

impl Default for Audio {
    fn default() -> Self {
        Self {
            mid: None,
            sending: None,
            decoder: None,
            jitter: Jitter::default(),
            pacer: Pacer::new(FRAME_SAMPLES),
            decoded: Vec::new(),
        }
    }
}

/// The caller's side of playout: a buffer of packets and the clock that drains it, one packet
/// per 20 ms from the moment it first filled to its target.
struct Jitter {
    buffer: PlayoutBuffer<std::sync::Arc<[u8]>>,
    /// (when playout started, packets played since)
    clock: Option<(Instant, u32)>,
}

impl Default for Jitter {
    fn default() -> Self {
        Self {
            buffer: PlayoutBuffer::new(JITTER_TARGET, JITTER_CAPACITY),
            clock: None,
        }
    }
}

impl Jitter {
    /// Packets due by `now`: one to try starting with, then one per 20 ms since the start.
    fn due(&self, now: Instant) -> u32 {
        match self.clock {
            None => 1,
            Some((start, played)) => {
                let elapsed =
                    now.saturating_duration_since(start).as_millis() / PACKET_TIME.as_millis();
                u32::try_from(elapsed + 1)
                    .unwrap_or(u32::MAX)
                    .saturating_sub(played)
            }
        }
    }

    fn played_one(&mut self, now: Instant) {
        self.clock = Some(self.clock.map_or((now, 1), |(start, n)| (start, n + 1)));
    }
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

    /// Takes one incoming packet into the jitter buffer and returns the session audio now due
    /// from it (in sequence order, with the codec's concealment for packets that never came);
    /// `None` for other media or when nothing is due yet.
    pub(super) fn incoming(&mut self, data: &MediaData) -> Option<AudioChunk> {
        if Some(data.mid) != self.mid {
            return None;
        }
        let codec = AudioCodec::of(data.params.spec().codec)?;
        if self.decoder.as_ref().map(|(c, _)| *c) != Some(codec) {
            self.decoder = Some((codec, Decoder::new(codec).ok()?));
            self.jitter = Jitter::default();
        }
        let (_, decoder) = self.decoder.as_mut()?;
        let jitter = &mut self.jitter;
        jitter
            .buffer
            .push(data.seq_range.start().as_u16(), data.data.clone());
        let now = data.network_time;
        self.decoded.clear();
        for _ in 0..jitter.due(now).min(JITTER_CAPACITY as u32) {
            match jitter.buffer.pop() {
                Received::Frame(packet) => {
                    if decoder.decode(&packet, &mut self.decoded).is_err() {
                        decoder.conceal(&mut self.decoded);
                    }
                }
                Received::Lost => decoder.conceal(&mut self.decoded),
                Received::Waiting => {
                    // Empty or refilling after an underrun: playout restarts once it is full.
                    jitter.clock = None;
                    break;
                }
            }
            jitter.played_one(now);
        }
        if self.decoded.is_empty() {
            return None;
        }
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
        self.pacer.push(&samples, Some(mark));
    }

    /// Drops queued agent audio and its marks; how many milliseconds were dropped.
    pub(super) fn clear(&mut self) -> u64 {
        let dropped_ms = self.pacer.queued_ms();
        self.pacer.clear();
        dropped_ms
    }

    /// When the next frame (or mark) is due, once sending has started.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.sending.as_ref()?;
        self.pacer.next_tick()
    }

    /// The frame (or marks) due at `now`, once sending has started. Call until `None`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Frame> {
        self.sending.as_ref()?;
        let tick = self.pacer.tick(now);
        if tick.frame.is_none() && tick.played.is_empty() {
            return None;
        }
        Some(Frame {
            samples: tick.frame.unwrap_or_default(),
            due: tick.slot.unwrap_or(now),
            marks: tick.played,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_clock_plays_one_packet_per_20_ms_from_when_it_started() {
        let mut jitter = Jitter::default();
        let start = Instant::now();
        assert_eq!(jitter.due(start), 1, "try to start");
        jitter.played_one(start);
        assert_eq!(jitter.due(start + Duration::from_millis(10)), 0);
        assert_eq!(jitter.due(start + Duration::from_millis(20)), 1);
        assert_eq!(
            jitter.due(start + Duration::from_millis(65)),
            3,
            "packets that came late are caught up, one per 20 ms elapsed"
        );
        jitter.clock = None;
        assert_eq!(
            jitter.due(start + Duration::from_secs(5)),
            1,
            "after an underrun, start over"
        );
    }
}

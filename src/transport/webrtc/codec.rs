//! The WebRTC leg's audio codecs: Opus (pure-Rust `opus-rs`) and G.711, to and from the session's
//! PCM16 at 24 kHz, in 20 ms frames.
//!
//! Opus is the core's `OpusDecoder` / `OpusEncoder` (constant bitrate, the codec's own loss
//! concealment); this module picks the codec per call and adds G.711. The interface is what the
//! peer needs: [`Decoder::decode`] one RTP payload, [`Encoder::encode`] one 20 ms frame.
//!
//! Opus is built by [`crate::transport::opus`] (shared with SIP): 24 kHz on both sides, so no
//! resampling; G.711 is 8 kHz and goes through the core's integer-ratio resampler.

use crate::transport::opus;
use voxgate_core::audio::{OpusDecoder, OpusEncoder, Resampler, SampleRate, g711};

/// The session's rate.
pub(super) const RATE_HZ: u32 = opus::RATE_HZ;
/// Samples in one 20 ms frame at [`RATE_HZ`].
pub(super) const FRAME_SAMPLES: usize = opus::FRAME_SAMPLES;
/// Largest audio packet accepted.
const MAX_PACKET: usize = 1500;

/// The audio codecs voxgate negotiates, in order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AudioCodec {
    /// Opus, 48 kHz RTP clock.
    Opus,
    /// G.711 μ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
}

impl AudioCodec {
    /// The codec of a str0m payload type, if it is one of ours.
    pub(super) fn of(codec: str0m::format::Codec) -> Option<Self> {
        match codec {
            str0m::format::Codec::Opus => Some(Self::Opus),
            str0m::format::Codec::PCMU => Some(Self::Pcmu),
            str0m::format::Codec::PCMA => Some(Self::Pcma),
            _ => None,
        }
    }

    /// RTP clock ticks per 20 ms frame.
    pub(super) fn ticks_per_frame(self) -> u64 {
        match self {
            Self::Opus => 960,
            Self::Pcmu | Self::Pcma => 160,
        }
    }

    /// RTP clock rate.
    pub(super) fn clock_hz(self) -> u64 {
        self.ticks_per_frame() * 50
    }

    /// Lowercase name, for the answer summary and logs.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Pcmu => "pcmu",
            Self::Pcma => "pcma",
        }
    }
}

/// Why a codec could not be set up or a packet not decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct CodecError(&'static str);

enum DecoderKind {
    Opus(Box<OpusDecoder>),
    G711(AudioCodec, Resampler),
}

/// Caller audio: RTP payloads → PCM16 at 24 kHz.
pub(super) struct Decoder {
    kind: DecoderKind,
    narrow: Vec<i16>,
}

impl Decoder {
    /// A decoder for `codec`.
    pub(super) fn new(codec: AudioCodec) -> Result<Self, CodecError> {
        let kind = match codec {
            AudioCodec::Opus => DecoderKind::Opus(Box::new(
                opus::decoder().map_err(|_| CodecError("the Opus decoder cannot start"))?,
            )),
            other => DecoderKind::G711(
                other,
                Resampler::new(SampleRate::Hz8k, SampleRate::Hz24k)
                    .map_err(|_| CodecError("no 8 kHz → 24 kHz resampler"))?,
            ),
        };
        Ok(Self {
            kind,
            narrow: Vec::new(),
        })
    }

    /// Appends the payload's audio to `out`. A packet the decoder refuses (the bytes come from
    /// the network) is dropped; nothing is appended for it.
    pub(super) fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        if payload.is_empty() || payload.len() > MAX_PACKET {
            return Err(CodecError("empty or oversized audio packet"));
        }
        match &mut self.kind {
            DecoderKind::Opus(decoder) => decoder
                .decode(payload, out)
                .map(|_| ())
                .map_err(|_| CodecError("the Opus decoder refused a packet")),
            DecoderKind::G711(codec, up) => {
                self.narrow.clear();
                match codec {
                    AudioCodec::Pcma => g711::alaw_decode_into(payload, &mut self.narrow),
                    _ => g711::ulaw_decode_into(payload, &mut self.narrow),
                }
                up.process(&self.narrow, out);
                Ok(())
            }
        }
    }
}

impl Decoder {
    /// Audio for one lost 20 ms packet: the Opus codec's own concealment, silence for G.711.
    pub(super) fn conceal(&mut self, out: &mut Vec<i16>) {
        match &mut self.kind {
            DecoderKind::Opus(decoder) => {
                decoder.conceal(out);
            }
            DecoderKind::G711(..) => out.resize(out.len() + FRAME_SAMPLES, 0),
        }
    }
}

enum EncoderKind {
    Opus(Box<OpusEncoder>),
    G711(AudioCodec, Resampler),
}

/// Agent audio: 20 ms PCM16 frames at 24 kHz → RTP payloads.
pub(super) struct Encoder {
    kind: EncoderKind,
    narrow: Vec<i16>,
}

impl Encoder {
    /// An encoder for `codec`.
    pub(super) fn new(codec: AudioCodec) -> Result<Self, CodecError> {
        let kind = match codec {
            AudioCodec::Opus => EncoderKind::Opus(Box::new(
                opus::encoder().map_err(|_| CodecError("the Opus encoder cannot start"))?,
            )),
            other => EncoderKind::G711(
                other,
                Resampler::new(SampleRate::Hz24k, SampleRate::Hz8k)
                    .map_err(|_| CodecError("no 24 kHz → 8 kHz resampler"))?,
            ),
        };
        Ok(Self {
            kind,
            narrow: Vec::new(),
        })
    }

    /// One frame of [`FRAME_SAMPLES`] samples → one payload.
    pub(super) fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, CodecError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(CodecError("an audio frame is 20 ms"));
        }
        match &mut self.kind {
            EncoderKind::Opus(encoder) => encoder
                .encode(frame)
                .map_err(|_| CodecError("the Opus encoder failed on a frame")),
            EncoderKind::G711(codec, down) => {
                self.narrow.clear();
                down.process(frame, &mut self.narrow);
                let mut payload = Vec::with_capacity(self.narrow.len());
                match codec {
                    AudioCodec::Pcma => g711::alaw_encode_into(&self.narrow, &mut payload),
                    _ => g711::ulaw_encode_into(&self.narrow, &mut payload),
                }
                Ok(payload)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_core::audio::{rms_dbfs, tone::tone};

    fn round_trip(codec: AudioCodec) -> Vec<i16> {
        let mut encoder = Encoder::new(codec).expect("encoder");
        let mut decoder = Decoder::new(codec).expect("decoder");
        let signal = tone(440.0, 8000, SampleRate::Hz24k, FRAME_SAMPLES * 25);
        let mut out = Vec::new();
        for frame in signal.chunks(FRAME_SAMPLES) {
            let payload = encoder.encode(frame).expect("encode");
            assert!(!payload.is_empty() && payload.len() <= MAX_PACKET);
            decoder.decode(&payload, &mut out).expect("decode");
        }
        out
    }

    #[test]
    fn opus_and_g711_carry_a_tone_through() {
        for codec in [AudioCodec::Opus, AudioCodec::Pcmu, AudioCodec::Pcma] {
            let out = round_trip(codec);
            assert_eq!(out.len(), FRAME_SAMPLES * 25, "{codec:?}");
            let level = rms_dbfs(&out[FRAME_SAMPLES * 5..]);
            assert!(level > -20.0, "{codec:?}: {level} dBFS");
        }
    }

    #[test]
    fn garbage_packets_are_refused_without_panicking() {
        let mut decoder = Decoder::new(AudioCodec::Opus).expect("decoder");
        let mut out = Vec::new();
        for junk in [
            &[0xffu8; 3][..],
            &[0x00, 0xff, 0xff, 0xff, 0x01],
            &[0u8; 1501],
        ] {
            let _ = decoder.decode(junk, &mut out);
        }
        assert!(decoder.decode(&[], &mut out).is_err());
    }
}

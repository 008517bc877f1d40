//! The Opus settings every transport shares: PCM16 at 24 kHz in 20 ms frames, constant bitrate,
//! low complexity. WebRTC ([`super::webrtc`]) and SIP ([`super::sip`]) both build their codecs
//! here so a call sounds (and costs) the same whichever way it arrives.
//!
//! Opus runs at 24 kHz on both sides (libopus, and so the core's pure-Rust port, decode to and
//! encode from any of 8/12/16/24/48 kHz; the RTP clock stays 48 kHz), so the session's PCM16
//! needs no resampling.

use voxgate_core::audio::{OpusDecoder, OpusEncoder, OpusError, SampleRate};

/// The session's rate for an Opus call.
pub(crate) const RATE_HZ: u32 = 24_000;
/// Samples in one 20 ms frame at [`RATE_HZ`].
pub(crate) const FRAME_SAMPLES: usize = 480;
/// Opus bitrate (constant): plenty for speech.
const BITRATE: u32 = 32_000;
/// Encoder complexity, chosen for the CPU budget: at 24 kHz and 32 kb/s a 20 ms frame took
/// 86 µs to encode at complexity 1 against 190 µs at 5 and 337 µs at 10 on the 2-core
/// development VM (`crates/core/examples/opus_cost.rs`, BENCHMARKS.md). Agent audio encoding
/// was the largest single cost at 200 WebRTC calls. What the lower complexity costs in speech
/// quality has not been measured.
const COMPLEXITY: u8 = 1;

/// A decoder to PCM16 at [`RATE_HZ`].
pub(crate) fn decoder() -> Result<OpusDecoder, OpusError> {
    OpusDecoder::with_rate(SampleRate::Hz24k)
}

/// An encoder from [`FRAME_SAMPLES`]-sample frames at [`RATE_HZ`].
pub(crate) fn encoder() -> Result<OpusEncoder, OpusError> {
    OpusEncoder::with_rate(SampleRate::Hz24k, BITRATE, COMPLEXITY)
}

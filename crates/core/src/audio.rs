//! Audio DSP for the call path: G.711 companding, Opus, integer-ratio resampling, 20 ms framing,
//! signal level, a ring buffer of recent caller audio, and the two timing pieces of a WebRTC leg:
//! a playout (jitter) buffer and a send pacer. Pure functions and plain data; no IO, no clock
//! (time is an `Instant` argument).
//!
//! The usual inbound path for a phone call is G.711 bytes → [`g711`] decode → [`Resampler`] to the
//! provider's rate → [`Framer`] into 20 ms frames, with every caller frame also pushed into an
//! [`AudioRing`] so it can be replayed after a failover. Outbound runs the same steps in reverse.
//!
//! Over WebRTC the codec is [`opus`] at 48 kHz. Inbound RTP packets go into a [`PlayoutBuffer`],
//! which every 20 ms yields the next packet for [`OpusDecoder::decode`] or a gap for
//! [`OpusDecoder::conceal`]. Outbound, the agent's audio (which providers send faster than real
//! time) is queued in a [`Pacer`] that releases one 20 ms frame per tick for
//! [`OpusEncoder::encode`] and reports each playback mark once all audio before it was sent.

pub mod frame;
pub mod g711;
pub mod level;
pub mod opus;
pub mod pacer;
pub mod playout;
pub mod rate;
pub mod resample;
pub mod ring;
pub mod tone;

pub use crate::session::MarkId;
pub use frame::{FRAME_MS, Framer, samples_per_frame};
pub use level::rms_dbfs;
pub use opus::{
    OPUS_DELAY_SAMPLES, OPUS_FRAME_SAMPLES, OpusDecoder, OpusEncoder, OpusError, OpusErrorKind,
};
pub use pacer::{Pacer, Tick};
pub use playout::{Playout, PlayoutBuffer, PlayoutStats};
pub use rate::{SampleRate, duration_ms, samples_for_ms};
pub use resample::{Resampler, UnsupportedRatio};
pub use ring::{AudioRing, Excerpt, PositionAhead};

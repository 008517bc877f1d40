//! Audio DSP for the call path: G.711 companding, integer-ratio resampling, 20 ms framing, signal
//! level and a ring buffer of recent caller audio. Pure functions and plain data; no IO, no clock.
//!
//! The usual inbound path for a phone call is G.711 bytes → [`g711`] decode → [`Resampler`] to the
//! provider's rate → [`Framer`] into 20 ms frames, with every caller frame also pushed into an
//! [`AudioRing`] so it can be replayed after a failover. Outbound runs the same steps in reverse.

pub mod frame;
pub mod g711;
pub mod level;
pub mod rate;
pub mod resample;
pub mod ring;
pub mod tone;

pub use frame::{FRAME_MS, Framer, samples_per_frame};
pub use level::rms_dbfs;
pub use rate::{SampleRate, duration_ms, samples_for_ms};
pub use resample::{Resampler, UnsupportedRatio};
pub use ring::{AudioRing, Excerpt, PositionAhead};

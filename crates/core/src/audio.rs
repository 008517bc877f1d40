//! Audio DSP for the call path: G.711, integer-ratio resampling, 20 ms framing and a ring buffer
//! of recent caller audio. Pure functions and plain data; no IO, no clock.

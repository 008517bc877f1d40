//! Opus for the WebRTC leg: 48 kHz mono PCM to and from Opus packets, with the codec's own packet
//! loss concealment. Wraps the pure-Rust `opus-rs` port of libopus 1.6; owns no timing, no RTP and
//! no jitter handling (see [`playout`](super::playout) and [`pacer`](super::pacer)).
//!
//! Everything is 48 kHz mono, the rate WebRTC negotiates for Opus; the caller resamples with
//! [`Resampler`](super::Resampler). The encoder takes exactly one 20 ms frame (960 samples) per
//! packet, at a constant bitrate. The decoder takes any packet an Opus peer may send (2.5 to
//! 120 ms of audio, mono or stereo; stereo is downmixed) and appends what it carries.
//!
//! Encoding then decoding delays the signal by about [`OPUS_DELAY_SAMPLES`] (6.5 ms, libopus's
//! pre-skip; 306 to 310 samples measured on tones and speech); the output is not shifted to hide
//! it.
//!
//! Packets come from the network, and `opus-rs` is a young port: a panic inside it is caught and
//! reported as [`OpusErrorKind::Internal`] (the codec is rebuilt), so a hostile packet ends neither
//! the call nor the task. That panic is still printed by the panic hook.

use super::SampleRate;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Samples in one 20 ms frame at 48 kHz, the only frame size [`OpusEncoder::encode`] takes.
pub const OPUS_FRAME_SAMPLES: usize = 960;
/// How far the decoded signal lags the encoded one, in 48 kHz samples (6.5 ms), within a few.
pub const OPUS_DELAY_SAMPLES: usize = 312;
/// The longest audio one packet may carry: 120 ms at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5_760;
/// RFC 6716's largest packet, so the encoder never has to retry with a larger buffer.
const MAX_PACKET_BYTES: usize = 1_276;
const RATE_HZ: i32 = 48_000;

/// Whose fault an [`OpusError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpusErrorKind {
    /// A setting was out of range (bitrate or complexity): the caller's configuration.
    Config,
    /// The frame handed to the encoder was not [`OPUS_FRAME_SAMPLES`] long: a caller bug.
    FrameLength,
    /// The packet is not valid Opus: the peer's fault; drop it and conceal.
    Packet,
    /// The codec failed or panicked on input it should have handled: ours (or `opus-rs`'s).
    Internal,
}

/// An Opus failure, with a stable [`code`](Self::code) and the codec's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", self.code())]
pub struct OpusError {
    kind: OpusErrorKind,
    detail: String,
}

impl OpusError {
    fn new(kind: OpusErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// Whose fault it is; none of these is worth retrying with the same input.
    pub fn kind(&self) -> OpusErrorKind {
        self.kind
    }

    /// A stable identifier for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self.kind {
            OpusErrorKind::Config => "opus.bad_config",
            OpusErrorKind::FrameLength => "opus.bad_frame_length",
            OpusErrorKind::Packet => "opus.bad_packet",
            OpusErrorKind::Internal => "opus.internal",
        }
    }
}

/// Runs a codec call, turning a panic inside `opus-rs` into an [`OpusErrorKind::Internal`] error.
fn guarded<R>(
    call: impl FnOnce() -> Result<R, &'static str>,
    kind: OpusErrorKind,
) -> Result<R, OpusError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(|detail| OpusError::new(kind, detail)),
        Err(_) => Err(OpusError::new(
            OpusErrorKind::Internal,
            "the codec panicked",
        )),
    }
}

/// Converts the codec's float output (±1.0 full scale) to 16-bit PCM, as libopus's
/// `opus_decode` does.
fn to_pcm16(sample: f32) -> i16 {
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// Decodes one Opus stream (one RTP SSRC) to 48 kHz mono PCM.
pub struct OpusDecoder {
    codec: opus_rs::OpusDecoder,
    rate: SampleRate,
    /// The codec's float output for one packet.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder of 48 kHz mono output, starting from silence.
    pub fn new() -> Result<Self, OpusError> {
        Self::with_rate(SampleRate::Hz48k)
    }

    /// A decoder of mono output at `rate` (Opus decodes natively to 8, 16, 24 or 48 kHz, so
    /// no resampler is needed; the RTP clock stays 48 kHz). `decode` and `conceal` then count
    /// samples at that rate (a 20 ms frame is `rate / 50`).
    pub fn with_rate(rate: SampleRate) -> Result<Self, OpusError> {
        Ok(Self {
            codec: new_decoder(rate)?,
            rate,
            scratch: vec![0.0; MAX_PACKET_SAMPLES],
        })
    }

    fn frame_samples(&self) -> usize {
        frame_samples(self.rate)
    }

    /// Decodes one packet (any frame size the packet carries) to 48 kHz mono PCM appended to
    /// `out`; returns the samples appended (e.g. 960 for a 20 ms packet).
    ///
    /// An empty packet is an error (call [`conceal`](Self::conceal) for a missing one); a
    /// one-byte packet (a table-of-contents byte without data, which DTX senders use) is
    /// concealed for the duration it names, as libopus does. On error nothing is appended.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        if packet.is_empty() {
            return Err(OpusError::new(OpusErrorKind::Packet, "empty packet"));
        }
        let (codec, scratch) = (&mut self.codec, &mut self.scratch);
        let result = guarded(
            || codec.decode(packet, MAX_PACKET_SAMPLES, scratch),
            OpusErrorKind::Packet,
        );
        self.append(result, out)
    }

    /// Packet-loss concealment for one missing 20 ms frame: appends 960 samples to `out` and
    /// returns 960.
    ///
    /// This is the codec's own concealment (libopus 1.6's, ported): SILK and Hybrid streams
    /// continue the last pitch period with decaying gain, CELT streams repeat or shape noise.
    /// Before the first packet, and should the codec ever fail here, it appends silence.
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> usize {
        let frame = self.frame_samples();
        let (codec, scratch) = (&mut self.codec, &mut self.scratch);
        let result = guarded(
            || codec.decode(&[], frame, scratch),
            OpusErrorKind::Internal,
        );
        match self.append(result, out) {
            Ok(decoded) if decoded == frame => frame,
            Ok(other) => {
                // Not reachable with opus-rs 0.1.40; keep the 20 ms promise regardless.
                out.truncate(out.len() - other);
                out.resize(out.len() + frame, 0);
                frame
            }
            Err(_) => {
                out.resize(out.len() + frame, 0);
                frame
            }
        }
    }

    /// Appends the first `decoded` samples of the scratch buffer, or rebuilds the codec after an
    /// internal failure (its state may be half-updated).
    fn append(
        &mut self,
        result: Result<usize, OpusError>,
        out: &mut Vec<i16>,
    ) -> Result<usize, OpusError> {
        match result {
            Ok(decoded) => {
                let decoded = decoded.min(self.scratch.len());
                out.extend(
                    self.scratch[..decoded]
                        .iter()
                        .map(|&sample| to_pcm16(sample)),
                );
                Ok(decoded)
            }
            Err(error) => {
                if error.kind() == OpusErrorKind::Internal {
                    self.codec = new_decoder(self.rate)?;
                }
                Err(error)
            }
        }
    }
}

fn new_decoder(rate: SampleRate) -> Result<opus_rs::OpusDecoder, OpusError> {
    let hz = i32::try_from(rate.hz()).unwrap_or(RATE_HZ);
    guarded(|| opus_rs::OpusDecoder::new(hz, 1), OpusErrorKind::Internal)
}

/// Samples in one 20 ms frame at `rate`.
fn frame_samples(rate: SampleRate) -> usize {
    usize::try_from(rate.samples_per_ms() * 20).unwrap_or(OPUS_FRAME_SAMPLES)
}

/// Encodes 48 kHz mono PCM, 20 ms per packet, for a VoIP stream.
pub struct OpusEncoder {
    codec: opus_rs::OpusEncoder,
    rate: SampleRate,
    bitrate: u32,
    complexity: u8,
    packet: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("bitrate", &self.bitrate)
            .field("complexity", &self.complexity)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder of 48 kHz mono in the VoIP application at a constant `bitrate` bits/s
    /// (6 000..=510 000; every packet is `bitrate / 400` bytes, 60 at 24 000) and `complexity`
    /// 0..=10 (higher is better quality for more CPU).
    ///
    /// Constant, because `opus-rs` 0.1.40's variable bitrate at 48 kHz overshoots its target by
    /// 15-20 kb/s while CBR costs little quality (speech correlation 0.95 against 0.96 at
    /// 24 kb/s).
    pub fn new(bitrate: u32, complexity: u8) -> Result<Self, OpusError> {
        Self::with_rate(SampleRate::Hz48k, bitrate, complexity)
    }

    /// Like [`new`](Self::new), for mono PCM at `rate` (20 ms is then `rate / 50` samples).
    pub fn with_rate(rate: SampleRate, bitrate: u32, complexity: u8) -> Result<Self, OpusError> {
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(OpusError::new(
                OpusErrorKind::Config,
                format!("bitrate {bitrate} b/s is outside 6000..=510000"),
            ));
        }
        if complexity > 10 {
            return Err(OpusError::new(
                OpusErrorKind::Config,
                format!("complexity {complexity} is outside 0..=10"),
            ));
        }
        Ok(Self {
            codec: new_encoder(rate, bitrate, complexity)?,
            rate,
            bitrate,
            complexity,
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Encodes exactly one 20 ms frame ([`OPUS_FRAME_SAMPLES`] samples at 48 kHz) into one
    /// packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, OpusError> {
        let expected = frame_samples(self.rate);
        if frame.len() != expected {
            return Err(OpusError::new(
                OpusErrorKind::FrameLength,
                format!("a frame is {expected} samples, not {}", frame.len()),
            ));
        }
        let (codec, packet) = (&mut self.codec, &mut self.packet);
        match guarded(
            || codec.encode_i16(frame, expected, packet),
            OpusErrorKind::Internal,
        ) {
            Ok(written) => Ok(self.packet[..written.min(MAX_PACKET_BYTES)].to_vec()),
            Err(error) => {
                // The codec's state may be half-updated: start the stream over.
                self.codec = new_encoder(self.rate, self.bitrate, self.complexity)?;
                Err(error)
            }
        }
    }
}

fn new_encoder(
    rate: SampleRate,
    bitrate: u32,
    complexity: u8,
) -> Result<opus_rs::OpusEncoder, OpusError> {
    let hz = i32::try_from(rate.hz()).unwrap_or(RATE_HZ);
    let mut codec = guarded(
        || opus_rs::OpusEncoder::new(hz, 1, opus_rs::Application::Voip),
        OpusErrorKind::Internal,
    )?;
    codec.bitrate_bps = i32::try_from(bitrate).unwrap_or(i32::MAX);
    codec.complexity = i32::from(complexity);
    // At 48 kHz opus-rs always codes Hybrid fullband (it has no bitrate-driven bandwidth choice),
    // and in VBR that overshoots the target by 15-20 kb/s (37.7 kb/s asked 16); CBR holds it.
    codec.use_cbr = true;
    Ok(codec)
}

#[cfg(test)]
mod tests;

//! A SIP call's audio codec state, both ways, for the RTP leg ([`super::leg`]).
//!
//! G.711 passes through to the session untouched (the session speaks the call's G.711); it has
//! no loss concealment of its own, so a single lost packet is replaced by a repeat of the one
//! before it (speech changes little in 20 ms) and a longer gap by silence. Opus is decoded to and
//! encoded from the session's PCM16 at 24 kHz with the codecs [`crate::transport::opus`] builds
//! (the same as WebRTC's); a lost packet is the decoder's own concealment.

use super::sdp::SipCodec;
use crate::transport::opus;
use voxgate_core::{
    audio::{OpusDecoder, OpusEncoder, OpusError, g711},
    session::{AudioChunk, AudioFormat},
};

/// Samples (and G.711 bytes) in 20 ms at 8 kHz.
pub(crate) const G711_FRAME: usize = 160;

/// The session's audio format for a codec (G.711 passes through to the provider).
pub(crate) fn session_format(codec: SipCodec) -> AudioFormat {
    match codec {
        SipCodec::Pcmu => AudioFormat::Pcmu,
        SipCodec::Pcma => AudioFormat::Pcma,
        SipCodec::Opus => AudioFormat::Pcm16 {
            rate: opus::RATE_HZ,
        },
    }
}

/// Caller audio: RTP payloads → the session's chunk bytes.
pub(crate) enum Decoder {
    /// G.711: the payload is the chunk.
    G711 {
        /// What a zero sample encodes to.
        silence: u8,
        /// The last frame played, for concealing a single loss.
        last: Vec<u8>,
        /// Losses in a row so far.
        lost_run: u32,
    },
    /// Opus to PCM16 at 24 kHz.
    Opus {
        /// The codec.
        decoder: Box<OpusDecoder>,
        /// Decoded samples, reused.
        pcm: Vec<i16>,
    },
}

impl Decoder {
    /// A decoder for `codec`.
    pub(crate) fn new(codec: SipCodec) -> Result<Self, OpusError> {
        let g711 = |silence| Self::G711 {
            silence,
            last: Vec::new(),
            lost_run: 0,
        };
        Ok(match codec {
            SipCodec::Pcmu => g711(0xFF),
            SipCodec::Pcma => g711(0xD5),
            SipCodec::Opus => Self::Opus {
                decoder: Box::new(opus::decoder()?),
                pcm: Vec::with_capacity(opus::FRAME_SAMPLES * 3),
            },
        })
    }

    /// One received payload's audio. An Opus packet the decoder refuses (the bytes come from the
    /// network) is concealed like a lost one.
    pub(crate) fn frame(&mut self, payload: Vec<u8>) -> Vec<u8> {
        match self {
            Self::G711 { last, lost_run, .. } => {
                *lost_run = 0;
                last.clone_from(&payload);
                payload
            }
            Self::Opus { decoder, pcm } => {
                pcm.clear();
                if decoder.decode(&payload, pcm).is_err() {
                    pcm.clear();
                    decoder.conceal(pcm);
                }
                pcm_bytes(pcm)
            }
        }
    }

    /// Audio standing in for one lost packet.
    pub(crate) fn lost(&mut self) -> Vec<u8> {
        match self {
            Self::G711 {
                silence,
                last,
                lost_run,
            } => {
                *lost_run += 1;
                if *lost_run == 1 && !last.is_empty() {
                    last.clone()
                } else {
                    let len = if last.is_empty() {
                        G711_FRAME
                    } else {
                        last.len()
                    };
                    vec![*silence; len]
                }
            }
            Self::Opus { decoder, pcm } => {
                pcm.clear();
                decoder.conceal(pcm);
                pcm_bytes(pcm)
            }
        }
    }

    /// How long `len` bytes of the session's audio last, in 8 kHz sample periods (the unit the
    /// leg's playout clock counts in).
    pub(crate) fn periods(&self, len: usize) -> u64 {
        match self {
            Self::G711 { .. } => len as u64,
            // Two bytes a sample, three 24 kHz samples per 8 kHz period.
            Self::Opus { .. } => (len / 6) as u64,
        }
    }
}

fn pcm_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|sample| sample.to_le_bytes()).collect()
}

/// Agent audio: the session's chunks → PCM frames → RTP payloads.
pub(crate) enum Encoder {
    /// G.711 μ-law from 8 kHz PCM.
    Pcmu,
    /// G.711 A-law from 8 kHz PCM.
    Pcma,
    /// Opus from 24 kHz PCM.
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    /// An encoder for `codec`.
    pub(crate) fn new(codec: SipCodec) -> Result<Self, OpusError> {
        Ok(match codec {
            SipCodec::Pcmu => Self::Pcmu,
            SipCodec::Pcma => Self::Pcma,
            SipCodec::Opus => Self::Opus(Box::new(opus::encoder()?)),
        })
    }

    /// PCM samples in one 20 ms frame (what the pacer releases at a time).
    pub(crate) fn frame_samples(&self) -> usize {
        match self {
            Self::Pcmu | Self::Pcma => G711_FRAME,
            Self::Opus(_) => opus::FRAME_SAMPLES,
        }
    }

    /// Appends the chunk's audio to `pcm` as PCM at the encoder's rate (8 or 24 kHz). The
    /// session speaks the format the call started with; anything else is a bug upstream and is
    /// skipped (its mark is still reported so the session does not wait forever).
    pub(crate) fn pcm_of(&self, chunk: &AudioChunk, pcm: &mut Vec<i16>) {
        let rate = match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::Opus(_) => opus::RATE_HZ,
        };
        match chunk.format {
            AudioFormat::Pcmu if rate == 8000 => g711::ulaw_decode_into(&chunk.data, pcm),
            AudioFormat::Pcma if rate == 8000 => g711::alaw_decode_into(&chunk.data, pcm),
            AudioFormat::Pcm16 { rate: chunk_rate } if chunk_rate == rate => pcm.extend(
                chunk
                    .data
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            ),
            _ => {}
        }
    }

    /// Encodes one frame of [`Encoder::frame_samples`] samples into `out`; false when the codec
    /// failed on it (the frame is then not sent).
    pub(crate) fn encode(&mut self, frame: &[i16], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Self::Pcmu => g711::ulaw_encode_into(frame, out),
            Self::Pcma => g711::alaw_encode_into(frame, out),
            Self::Opus(encoder) => match encoder.encode(frame) {
                Ok(packet) => out.extend_from_slice(&packet),
                Err(error) => {
                    tracing::warn!(code = error.code(), "Opus could not encode an agent frame.");
                    return false;
                }
            },
        }
        true
    }
}

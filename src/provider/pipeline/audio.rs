//! Audio format conversion at the pipeline's edges: caller audio (G.711 or PCM16 at the call's
//! rate) to 16 kHz PCM for VAD and speech-to-text, and text-to-speech PCM (24 kHz s16le) to the
//! caller's format in playable pieces. Streaming: odd bytes and filter history carry over between
//! chunks. Pure DSP over the core's g711 and resampler; no IO.

use voxgate_core::{
    audio::{Resampler, SampleRate, g711},
    session::AudioFormat,
};

/// The rate every text-to-speech endpoint answers in (`response_format: "pcm"`).
pub(super) const TTS_RATE: SampleRate = SampleRate::Hz24k;
/// The rate VAD and speech-to-text work at.
pub(super) const LISTEN_RATE: SampleRate = SampleRate::Hz16k;
/// Agent audio is handed out in whole multiples of this...
const PIECE_MIN_MS: usize = 20;
/// ...and never more than this per piece.
const PIECE_MAX_MS: usize = 100;

/// A caller format the pipeline cannot convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported audio format {0:?}")]
pub(super) struct UnsupportedFormat(pub(super) AudioFormat);

/// The sample rate of a caller format.
pub(super) fn rate_of(format: AudioFormat) -> Result<SampleRate, UnsupportedFormat> {
    match format {
        AudioFormat::Pcmu | AudioFormat::Pcma => Ok(SampleRate::Hz8k),
        AudioFormat::Pcm16 { rate } => SampleRate::from_hz(rate).ok_or(UnsupportedFormat(format)),
    }
}

fn resampler(from: SampleRate, to: SampleRate) -> Result<Resampler, UnsupportedFormat> {
    // Every pair of supported rates converts; the error stays for future rates.
    Resampler::new(from, to).map_err(|_| UnsupportedFormat(AudioFormat::Pcm16 { rate: from.hz() }))
}

/// Appends little-endian samples of `bytes` to `out`, carrying an odd byte to the next call.
fn push_le(carry: &mut Option<u8>, bytes: &[u8], out: &mut Vec<i16>) {
    let mut rest = bytes;
    if let Some(low) = carry.take() {
        match rest.split_first() {
            Some((&high, tail)) => {
                out.push(i16::from_le_bytes([low, high]));
                rest = tail;
            }
            None => {
                *carry = Some(low);
                return;
            }
        }
    }
    let pairs = rest.chunks_exact(2);
    *carry = pairs.remainder().first().copied();
    out.extend(pairs.map(|pair| i16::from_le_bytes([pair[0], pair[1]])));
}

/// Caller audio → 16 kHz PCM.
#[derive(Debug)]
pub(super) struct CallerDecoder {
    format: AudioFormat,
    carry: Option<u8>,
    resampler: Resampler,
    linear: Vec<i16>,
}

impl CallerDecoder {
    /// A decoder for caller audio in `format`.
    pub(super) fn new(format: AudioFormat) -> Result<Self, UnsupportedFormat> {
        Ok(Self {
            format,
            carry: None,
            resampler: resampler(rate_of(format)?, LISTEN_RATE)?,
            linear: Vec::new(),
        })
    }

    /// Decodes `bytes` and appends the 16 kHz samples to `out`.
    pub(super) fn push(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        self.linear.clear();
        match self.format {
            AudioFormat::Pcmu => g711::ulaw_decode_into(bytes, &mut self.linear),
            AudioFormat::Pcma => g711::alaw_decode_into(bytes, &mut self.linear),
            AudioFormat::Pcm16 { .. } => push_le(&mut self.carry, bytes, &mut self.linear),
        }
        self.resampler.process(&self.linear, out);
    }
}

/// Text-to-speech PCM (24 kHz s16le) → the caller's format, in pieces of 20–100 ms.
#[derive(Clone, Debug)]
pub(super) struct AgentEncoder {
    format: AudioFormat,
    carry: Option<u8>,
    resampler: Resampler,
    linear: Vec<i16>,
    resampled: Vec<i16>,
    pending: Vec<u8>,
}

impl AgentEncoder {
    /// An encoder to the caller's `format`.
    pub(super) fn new(format: AudioFormat) -> Result<Self, UnsupportedFormat> {
        Ok(Self {
            format,
            carry: None,
            resampler: resampler(TTS_RATE, rate_of(format)?)?,
            linear: Vec::new(),
            resampled: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// Converts a piece of the TTS body; returns every whole piece now ready.
    pub(super) fn push(&mut self, pcm: &[u8]) -> Vec<Vec<u8>> {
        self.linear.clear();
        self.resampled.clear();
        push_le(&mut self.carry, pcm, &mut self.linear);
        self.resampler.process(&self.linear, &mut self.resampled);
        match self.format {
            AudioFormat::Pcmu => g711::ulaw_encode_into(&self.resampled, &mut self.pending),
            AudioFormat::Pcma => g711::alaw_encode_into(&self.resampled, &mut self.pending),
            AudioFormat::Pcm16 { .. } => self.pending.extend(
                self.resampled
                    .iter()
                    .flat_map(|sample| sample.to_le_bytes()),
            ),
        }
        let unit = self.format.bytes_per_ms() as usize * PIECE_MIN_MS;
        let max = unit * (PIECE_MAX_MS / PIECE_MIN_MS);
        let mut pieces = Vec::new();
        while self.pending.len() >= unit {
            let take = (self.pending.len() / unit * unit).min(max);
            pieces.push(self.pending.drain(..take).collect());
        }
        pieces
    }

    /// What is left once the body ended (less than 20 ms), if anything.
    pub(super) fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_24k(samples: usize) -> Vec<u8> {
        (0..samples)
            .map(|i| ((i as f64 * 0.1).sin() * 8_000.0) as i16)
            .flat_map(i16::to_le_bytes)
            .collect()
    }

    #[test]
    fn odd_byte_counts_across_chunks_lose_no_sample() {
        let bytes = tone_24k(2_400);
        let mut whole = AgentEncoder::new(AudioFormat::Pcm16 { rate: 24_000 }).expect("format");
        let mut split = AgentEncoder::new(AudioFormat::Pcm16 { rate: 24_000 }).expect("format");
        let one: Vec<u8> = whole.push(&bytes).concat();
        let mut other = Vec::new();
        for chunk in bytes.chunks(333) {
            other.extend(split.push(chunk).concat());
        }
        other.extend(split.finish().unwrap_or_default());
        let one = [one, whole.finish().unwrap_or_default()].concat();
        assert_eq!(one, other);
        assert_eq!(one.len(), bytes.len());
    }

    #[test]
    fn tts_audio_becomes_mulaw_pieces_of_twenty_to_a_hundred_ms() {
        let mut encoder = AgentEncoder::new(AudioFormat::Pcmu).expect("format");
        let pieces = encoder.push(&tone_24k(24_000));
        assert!(pieces.iter().all(|p| p.len() % 160 == 0 && p.len() <= 800));
        let total: usize = pieces.iter().map(Vec::len).sum::<usize>()
            + encoder.finish().map_or(0, |rest| rest.len());
        assert_eq!(total, 8_000, "one second at 8 kHz");
    }

    #[test]
    fn caller_mulaw_becomes_sixteen_khz_pcm() {
        let mut decoder = CallerDecoder::new(AudioFormat::Pcmu).expect("format");
        let mut out = Vec::new();
        decoder.push(&[0xFF; 160], &mut out);
        assert_eq!(out.len(), 320);
        assert!(CallerDecoder::new(AudioFormat::Pcm16 { rate: 44_100 }).is_err());
    }
}

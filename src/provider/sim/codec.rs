//! Audio for the simulator: base64, the three GA audio formats (PCM16 24 kHz, G.711 μ-law and
//! A-law at 8 kHz), 8 kHz ↔ 24 kHz conversion and the deterministic tone of scripted replies.
//!
//! Local on purpose: the simulator stands in for a remote service and shares no DSP code with
//! the call path it tests.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

/// An audio format of `session.audio.{input,output}.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// `audio/pcm`: 16-bit signed little-endian, 24 kHz, mono.
    Pcm,
    /// `audio/pcmu`: G.711 μ-law, 8 kHz.
    Pcmu,
    /// `audio/pcma`: G.711 A-law, 8 kHz.
    Pcma,
}

impl Format {
    /// Reads `{type, rate?}`; the error names what is wrong.
    pub(super) fn parse(value: &Value) -> Result<Self, String> {
        match value.get("type").and_then(Value::as_str) {
            Some("audio/pcm") => match value.get("rate") {
                None | Some(Value::Null) => Ok(Self::Pcm),
                Some(rate) if rate.as_u64() == Some(24_000) => Ok(Self::Pcm),
                Some(rate) => Err(format!(
                    "Invalid 'rate': {rate}. audio/pcm supports only 24000."
                )),
            },
            Some("audio/pcmu") => Ok(Self::Pcmu),
            Some("audio/pcma") => Ok(Self::Pcma),
            Some(other) => Err(format!(
                "Invalid value: '{other}'. Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'."
            )),
            None => Err("Missing required parameter: 'type'.".to_owned()),
        }
    }

    /// The GA JSON shape, as the service echoes it.
    pub(super) fn to_json(self) -> Value {
        match self {
            Self::Pcm => json!({"type": "audio/pcm", "rate": 24_000}),
            Self::Pcmu => json!({"type": "audio/pcmu"}),
            Self::Pcma => json!({"type": "audio/pcma"}),
        }
    }

    /// Samples per second.
    pub(super) fn rate(self) -> u32 {
        match self {
            Self::Pcm => 24_000,
            Self::Pcmu | Self::Pcma => 8_000,
        }
    }

    /// Encodes PCM samples (at this format's rate) into this format's bytes.
    pub(super) fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            Self::Pcm => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
            Self::Pcmu => samples.iter().map(|&s| ulaw_encode(s)).collect(),
            Self::Pcma => samples.iter().map(|&s| alaw_encode(s)).collect(),
        }
    }
}

/// Turns appended bytes into samples, carrying an odd PCM byte over to the next append.
#[derive(Debug)]
pub(super) struct Decoder {
    format: Format,
    carry: Option<u8>,
}

impl Decoder {
    pub(super) fn new(format: Format) -> Self {
        Self {
            format,
            carry: None,
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) -> Vec<i16> {
        match self.format {
            Format::Pcmu => bytes.iter().map(|&b| ulaw_decode(b)).collect(),
            Format::Pcma => bytes.iter().map(|&b| alaw_decode(b)).collect(),
            Format::Pcm => {
                let mut joined = Vec::with_capacity(bytes.len() + 1);
                joined.extend(self.carry.take());
                joined.extend_from_slice(bytes);
                let chunks = joined.chunks_exact(2);
                self.carry = chunks.remainder().first().copied();
                chunks
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect()
            }
        }
    }
}

pub(super) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(super) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Converts between 8 kHz and 24 kHz (the only rates the formats use): linear interpolation up,
/// a 3-sample average down.
pub(super) fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return samples.to_vec();
    }
    if from < to {
        let mut out = Vec::with_capacity(samples.len() * 3);
        for (i, &current) in samples.iter().enumerate() {
            let next = i32::from(samples.get(i + 1).copied().unwrap_or(current));
            let current = i32::from(current);
            for step in 0..3 {
                out.push(clamp(current + (next - current) * step / 3));
            }
        }
        out
    } else {
        samples
            .chunks(3)
            .map(|c| clamp(c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32))
            .collect()
    }
}

fn clamp(value: i32) -> i16 {
    i16::try_from(value.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or_default()
}

/// A deterministic, clearly audible chirp of `ms` milliseconds at `rate`: 400 ms syllables that
/// sweep from 300 to 600 Hz, with 10 ms fades so chunk edges do not click.
pub(super) fn tone(ms: u64, rate: u32) -> Vec<i16> {
    let rate_f = f64::from(rate);
    let total = usize::try_from(ms * u64::from(rate) / 1000).unwrap_or(0);
    let syllable = (rate_f * 0.4) as usize;
    let fade = (rate_f * 0.01) as usize;
    let mut phase = 0.0_f64;
    (0..total)
        .map(|n| {
            let within = n % syllable;
            let frequency = 300.0 + 300.0 * within as f64 / syllable as f64;
            phase += std::f64::consts::TAU * frequency / rate_f;
            let edge = within.min(syllable - within).min(fade) as f64 / fade as f64;
            (phase.sin() * 8_000.0 * edge) as i16
        })
        .collect()
}

/// G.711 μ-law encoding of one sample (the classic Sun reference algorithm).
pub(super) fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    let pcm = pcm.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && pcm & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// G.711 μ-law decoding of one byte.
pub(super) fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    clamp(if u & 0x80 != 0 { -magnitude } else { magnitude })
}

/// G.711 A-law encoding of one sample.
pub(super) fn alaw_encode(sample: i16) -> u8 {
    const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut pcm = i32::from(sample) >> 3;
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let Some(segment) = SEGMENT_END.iter().position(|&end| pcm <= end) else {
        return (0x7F ^ mask) as u8;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let value = ((segment as i32) << 4) | ((pcm >> shift) & 0x0F);
    (value ^ mask) as u8
}

/// G.711 A-law decoding of one byte.
pub(super) fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut magnitude = i32::from(a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => magnitude += 8,
        1 => magnitude += 0x108,
        _ => magnitude = (magnitude + 0x108) << (segment - 1),
    }
    clamp(if a & 0x80 != 0 { magnitude } else { -magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_has_the_reference_values_and_round_trips_closely() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        for sample in (-32_768..=32_767).step_by(97) {
            let sample = sample as i16;
            let tolerance = (i32::from(sample).abs() / 16).max(16);
            let mu = i32::from(ulaw_decode(ulaw_encode(sample)));
            let a = i32::from(alaw_decode(alaw_encode(sample)));
            assert!(
                (mu - i32::from(sample)).abs() <= tolerance,
                "μ-law {sample} → {mu}"
            );
            assert!(
                (a - i32::from(sample)).abs() <= tolerance,
                "A-law {sample} → {a}"
            );
        }
    }

    #[test]
    fn pcm_decoding_carries_an_odd_byte() {
        let mut decoder = Decoder::new(Format::Pcm);
        assert_eq!(decoder.push(&[0x01, 0x02, 0x03]), vec![0x0201]);
        assert_eq!(decoder.push(&[0x04]), vec![0x0403]);
    }

    #[test]
    fn resampling_keeps_duration_and_the_tone_is_loud() {
        let tone = tone(100, 24_000);
        assert_eq!(tone.len(), 2_400);
        assert_eq!(resample(&tone, 24_000, 8_000).len(), 800);
        assert_eq!(resample(&tone[..800], 8_000, 24_000).len(), 2_400);
        let rms = (tone.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 2_400.0).sqrt();
        assert!(rms > 3_000.0, "rms {rms}");
    }

    #[test]
    fn formats_parse_the_ga_shapes() {
        assert_eq!(
            Format::parse(&json!({"type": "audio/pcm", "rate": 24000})),
            Ok(Format::Pcm)
        );
        assert_eq!(
            Format::parse(&json!({"type": "audio/pcmu"})),
            Ok(Format::Pcmu)
        );
        assert!(Format::parse(&json!({"type": "audio/pcm", "rate": 16000})).is_err());
        assert!(Format::parse(&json!({"type": "pcm16"})).is_err());
    }
}

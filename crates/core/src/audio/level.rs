//! Signal level: RMS in dBFS, the measure that simulations, VAD tests and silence checks share.

/// Full scale of 16-bit PCM, the 0 dBFS reference.
const FULL_SCALE: f64 = 32_768.0;

/// The RMS level of `samples` in dB relative to full scale.
///
/// 0 dBFS is a full-scale square wave; a full-scale sine reads about −3.01 dBFS, and each halving
/// of amplitude takes about 6.02 dB off. Empty or all-zero input is [`f32::NEG_INFINITY`], which
/// compares below every finite threshold, so `rms_dbfs(frame) < -50.0` is a valid silence test.
/// The quietest non-silent 20 ms frame (a single ±1 in 960 samples) reads about −120.1 dBFS.
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let energy: u128 = samples
        .iter()
        .map(|&sample| u128::from(sample.unsigned_abs()).pow(2))
        .sum();
    let mean_square = energy as f64 / samples.len() as f64;
    // log10(0) is -inf, which is what silence should read.
    (10.0 * (mean_square / (FULL_SCALE * FULL_SCALE)).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{rate::SampleRate, tone::tone};

    #[test]
    fn silence_and_empty_input_read_minus_infinity() {
        assert_eq!(rms_dbfs(&[]), f32::NEG_INFINITY);
        assert_eq!(rms_dbfs(&[0; 160]), f32::NEG_INFINITY);
        assert!(rms_dbfs(&[0; 160]) < -120.0);
    }

    #[test]
    fn full_scale_square_wave_reads_zero_dbfs() {
        let square: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        assert!(rms_dbfs(&square).abs() < 0.001, "{}", rms_dbfs(&square));
    }

    #[test]
    fn full_scale_sine_reads_minus_three_dbfs() {
        let level = rms_dbfs(&tone(1_000.0, i16::MAX, SampleRate::Hz8k, 800));
        assert!((level + 3.01).abs() < 0.01, "{level}");
    }

    #[test]
    fn halving_the_amplitude_takes_six_decibels_off() {
        let loud = rms_dbfs(&tone(440.0, 16_000, SampleRate::Hz16k, 1_600));
        let quiet = rms_dbfs(&tone(440.0, 8_000, SampleRate::Hz16k, 1_600));
        assert!((loud - quiet - 6.02).abs() < 0.01, "{loud} {quiet}");
    }

    #[test]
    fn the_quietest_frame_is_finite_and_just_below_minus_120_dbfs() {
        let mut frame = [0; 960];
        frame[500] = -1;
        let level = rms_dbfs(&frame);
        assert!((level + 120.13).abs() < 0.01, "{level}");
    }
}

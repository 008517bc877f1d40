//! Synthetic signals for simulations and tests: pure tones at a known level.

use super::rate::SampleRate;

/// `samples` of a sine at `frequency_hz` with peak amplitude `peak`, starting at phase zero.
///
/// A full-scale tone (`peak = i16::MAX`) reads about −3.01 dBFS with
/// [`rms_dbfs`](super::level::rms_dbfs).
pub fn tone(frequency_hz: f64, peak: i16, rate: SampleRate, samples: usize) -> Vec<i16> {
    let step = std::f64::consts::TAU * frequency_hz / f64::from(rate.hz());
    (0..samples)
        .map(|index| (f64::from(peak) * (step * index as f64).sin()).round() as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_has_the_requested_length_peak_and_period() {
        let samples = tone(1_000.0, 10_000, SampleRate::Hz8k, 16);
        assert_eq!(samples.len(), 16);
        assert_eq!(samples[0], 0);
        assert_eq!(samples[2], 10_000);
        assert_eq!(samples[6], -10_000);
        assert_eq!(samples[..8], samples[8..]);
    }

    #[test]
    fn zero_samples_is_an_empty_tone() {
        assert!(tone(440.0, 1, SampleRate::Hz48k, 0).is_empty());
    }
}

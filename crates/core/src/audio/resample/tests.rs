//! Tests for the resampler: lengths, chunking, passband, stopband and edge cases.

use super::*;
use crate::audio::{frame::samples_per_frame, level::rms_dbfs, tone::tone};

fn every_pair() -> impl Iterator<Item = (SampleRate, SampleRate)> {
    SampleRate::ALL
        .into_iter()
        .flat_map(|from| SampleRate::ALL.map(|to| (from, to)))
}

fn resample(from: SampleRate, to: SampleRate, input: &[i16]) -> Vec<i16> {
    let mut resampler = Resampler::new(from, to).expect("supported pair");
    let mut out = Vec::new();
    resampler.process(input, &mut out);
    out
}

/// Deterministic noise-like input (a linear congruential generator).
fn noise(samples: usize) -> Vec<i16> {
    let mut state = 0x2545_f491_u32;
    (0..samples)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 16) as i16
        })
        .collect()
}

/// Level change of a tone through `from → to`, measured after the filter has settled.
fn gain_db(frequency_hz: f64, from: SampleRate, to: SampleRate) -> f32 {
    let input = tone(frequency_hz, 16_000, from, samples_per_frame(from) * 25);
    let output = resample(from, to, &input);
    let settled = samples_per_frame(to) * 5;
    rms_dbfs(&output[settled..]) - rms_dbfs(&input[samples_per_frame(from) * 5..])
}

#[test]
fn whole_frames_map_to_whole_frames_for_every_pair() {
    for (from, to) in every_pair() {
        let mut resampler = Resampler::new(from, to).expect("supported pair");
        assert_eq!((resampler.from_rate(), resampler.to_rate()), (from, to));
        for frame in noise(samples_per_frame(from) * 4).chunks(samples_per_frame(from)) {
            let mut out = Vec::new();
            resampler.process(frame, &mut out);
            assert_eq!(out.len(), samples_per_frame(to), "{from} -> {to}");
        }
    }
}

#[test]
fn chunked_processing_equals_one_shot_for_every_pair() {
    let input = noise(3_000);
    for (from, to) in every_pair() {
        let whole = resample(from, to, &input);
        let mut resampler = Resampler::new(from, to).expect("supported pair");
        let mut chunked = Vec::new();
        let mut rest = &input[..];
        for size in [1, 7, 0, 160, 3, 2, 999, 480, 5].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            resampler.process(chunk, &mut chunked);
            rest = tail;
        }
        assert_eq!(chunked, whole, "{from} -> {to}");
        assert_eq!(
            whole.len(),
            (input.len() * to.hz() as usize).div_ceil(from.hz() as usize)
        );
    }
}

#[test]
fn a_1_khz_tone_keeps_its_level_through_8k_to_24k_and_back() {
    for (from, to) in [
        (SampleRate::Hz8k, SampleRate::Hz24k),
        (SampleRate::Hz24k, SampleRate::Hz8k),
    ] {
        let gain = gain_db(1_000.0, from, to);
        assert!(gain.abs() < 1.0, "{from} -> {to}: {gain} dB");
    }
}

#[test]
fn telephone_band_is_flat_for_every_pair() {
    for (from, to) in every_pair() {
        for frequency in [300.0, 1_000.0, 3_400.0] {
            let gain = gain_db(frequency, from, to);
            assert!(gain.abs() < 0.1, "{frequency} Hz {from} -> {to}: {gain} dB");
        }
    }
}

#[test]
fn a_6_khz_tone_does_not_alias_into_8_khz_output() {
    let gain = gain_db(6_000.0, SampleRate::Hz24k, SampleRate::Hz8k);
    assert!(gain <= -30.0, "{gain} dB");
}

#[test]
fn everything_above_the_output_nyquist_is_at_least_60_db_down() {
    for frequency in [4_100.0, 4_500.0, 6_000.0, 9_000.0, 11_000.0] {
        let gain = gain_db(frequency, SampleRate::Hz24k, SampleRate::Hz8k);
        assert!(gain <= -60.0, "{frequency} Hz: {gain} dB");
    }
    let gain = gain_db(9_000.0, SampleRate::Hz48k, SampleRate::Hz16k);
    assert!(gain <= -60.0, "48k -> 16k: {gain} dB");
}

#[test]
fn upsampling_adds_no_audible_images() {
    // A 1 kHz tone at 8 kHz images at 7 kHz and 9 kHz when zero-stuffed to 24 kHz; remove the
    // tone itself and what is left must be far below it.
    let input = tone(1_000.0, 16_000, SampleRate::Hz8k, 8_000);
    let output = resample(SampleRate::Hz8k, SampleRate::Hz24k, &input);
    let delay = 3 * ZERO_CROSSINGS;
    let ideal = tone(1_000.0, 16_000, SampleRate::Hz24k, output.len() - delay);
    let residue: Vec<i16> = output[delay..]
        .iter()
        .zip(&ideal)
        .skip(2_400)
        .map(|(&got, &want)| got.saturating_sub(want))
        .collect();
    let below = rms_dbfs(&ideal) - rms_dbfs(&residue);
    assert!(below >= 60.0, "images only {below} dB down");
}

#[test]
fn dc_passes_exactly_once_the_filter_settles() {
    for (from, to) in every_pair() {
        let output = resample(from, to, &[1_234; 2_000]);
        let settled = output.len() / 2;
        assert!(
            output[settled..].iter().all(|&sample| sample == 1_234),
            "{from} -> {to}"
        );
    }
}

#[test]
fn full_scale_overshoot_clamps_instead_of_wrapping() {
    let mut step = vec![0; 400];
    step.extend([i16::MAX; 400]);
    let output = resample(SampleRate::Hz8k, SampleRate::Hz48k, &step);
    let rise = output
        .iter()
        .position(|&sample| sample > 16_000)
        .expect("the step comes through");
    assert!(output[rise..].iter().all(|&sample| sample > 16_000));
    assert!(output.contains(&i16::MAX));
}

#[test]
fn the_same_rate_passes_audio_through_unchanged() {
    let input = noise(1_000);
    assert_eq!(
        resample(SampleRate::Hz24k, SampleRate::Hz24k, &input),
        input
    );
}

#[test]
fn empty_input_yields_nothing_and_changes_nothing() {
    let input = noise(500);
    let mut resampler = Resampler::new(SampleRate::Hz16k, SampleRate::Hz24k).expect("supported");
    let mut out = Vec::new();
    resampler.process(&[], &mut out);
    assert!(out.is_empty());
    resampler.process(&input, &mut out);
    assert_eq!(out, resample(SampleRate::Hz16k, SampleRate::Hz24k, &input));
}

#[test]
fn reset_forgets_history() {
    let input = noise(700);
    let mut resampler = Resampler::new(SampleRate::Hz48k, SampleRate::Hz8k).expect("supported");
    let mut first = Vec::new();
    resampler.process(&input, &mut first);
    resampler.reset();
    let mut second = Vec::new();
    resampler.process(&input, &mut second);
    assert_eq!(first, second);
}

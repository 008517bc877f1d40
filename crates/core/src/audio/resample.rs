//! Streaming integer-ratio resampling of mono 16-bit PCM between the supported [`SampleRate`]s.
//!
//! A [`Resampler`] is a polyphase FIR: conceptually it upsamples by `L` (zero stuffing), low-pass
//! filters at the intermediate rate, and keeps every `M`-th sample, where `L / M` is `to / from` in
//! lowest terms (16 kHz → 24 kHz is 3/2, through 48 kHz). Only the taps that meet a real input
//! sample are computed.
//!
//! The filter is a Kaiser-windowed sinc (β = 6) with 24 zero crossings each side at the lower of
//! the two rates, cut off at 92 % of that rate's Nyquist frequency: flat within 0.1 dB up to 85 %
//! of Nyquist (3.4 kHz at 8 kHz) and at least 60 dB down from Nyquist on, so it both removes
//! images when upsampling and prevents aliasing when downsampling. Its delay is 24 samples of
//! the lower rate (3 ms at 8 kHz); the output is not shifted to hide it.
//!
//! Coefficients are Q20 fixed point and every polyphase branch sums to exactly 1.0, so DC passes
//! unchanged and results are bit-exact however the input is chunked. The first call starts from
//! silence (zero history).

use super::rate::SampleRate;

/// Zero crossings of the sinc on each side of its centre, counted at the lower rate.
const ZERO_CROSSINGS: usize = 24;
/// Kaiser window shape: higher trades a wider transition band for deeper stopband.
const KAISER_BETA: f64 = 6.0;
/// Cut-off as a fraction of the lower rate's Nyquist frequency.
const ROLLOFF: f64 = 0.92;
/// Fractional bits of the fixed-point coefficients.
const COEFFICIENT_BITS: u32 = 20;
const UNITY: i64 = 1 << COEFFICIENT_BITS;

/// A pair of rates the resampler cannot convert between.
///
/// Every pair of today's [`SampleRate`]s is supported (including a rate to itself, which passes
/// audio through unchanged), so [`Resampler::new`] does not currently fail; the error keeps the
/// signature stable for rates whose ratio would need an impractically long filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot resample {from} to {to}")]
pub struct UnsupportedRatio {
    /// The input rate.
    pub from: SampleRate,
    /// The requested output rate.
    pub to: SampleRate,
}

/// A streaming rate converter for one mono stream; keeps filter history between calls.
#[derive(Clone, Debug)]
pub struct Resampler {
    from: SampleRate,
    to: SampleRate,
    /// Upsampling factor `L`.
    up: usize,
    /// Decimation factor `M`.
    down: usize,
    /// Taps per polyphase branch.
    taps: usize,
    /// `up` branches of `taps` Q20 coefficients each, oldest-sample-first.
    branches: Vec<i32>,
    /// The last `taps - 1` input samples, followed by the chunk being processed.
    window: Vec<i16>,
    /// Branch of the next output: its intermediate-rate position modulo `up`.
    branch: usize,
    /// Index, relative to the start of the next chunk, of the newest input the next output needs.
    next_input: usize,
}

impl Resampler {
    /// A resampler from `from` to `to`, starting from silence.
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self, UnsupportedRatio> {
        let common = gcd(from.hz(), to.hz());
        let (up, down) = ((to.hz() / common) as usize, (from.hz() / common) as usize);
        let prototype = low_pass(up, down);
        let taps = prototype.len().div_ceil(up);
        Ok(Self {
            from,
            to,
            up,
            down,
            taps,
            branches: polyphase(&prototype, up, taps),
            window: vec![0; taps - 1],
            branch: 0,
            next_input: 0,
        })
    }

    /// The input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Converts `input` and appends the result to `out`.
    ///
    /// Over the life of the stream, `n` input samples yield `ceil(n * to / from)` output samples,
    /// so whole 20 ms frames map to whole 20 ms frames. Splitting the input differently across
    /// calls never changes the output.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let history = self.taps - 1;
        self.window.extend_from_slice(input);
        out.reserve((input.len() * self.up).div_ceil(self.down));
        while self.next_input < input.len() {
            // `window[next_input + history]` is the newest sample this output needs.
            let span = &self.window[self.next_input..][..self.taps];
            let coefficients = &self.branches[self.branch * self.taps..][..self.taps];
            let sum: i64 = span
                .iter()
                .zip(coefficients)
                .map(|(&sample, &coefficient)| i64::from(sample) * i64::from(coefficient))
                .sum();
            out.push(to_sample(sum));
            self.branch += self.down;
            self.next_input += self.branch / self.up;
            self.branch %= self.up;
        }
        self.next_input -= input.len();
        self.window.drain(..self.window.len() - history);
    }

    /// Forgets all history, as if newly created.
    pub fn reset(&mut self) {
        self.window.clear();
        self.window.resize(self.taps - 1, 0);
        self.branch = 0;
        self.next_input = 0;
    }
}

/// Rounds a Q20 sum to the nearest sample, clamping what the filter's overshoot pushes past
/// full scale.
fn to_sample(sum: i64) -> i16 {
    let rounded = (sum + UNITY / 2) >> COEFFICIENT_BITS;
    rounded.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// The prototype low-pass at the intermediate rate (`up` times the input rate).
fn low_pass(up: usize, down: usize) -> Vec<f64> {
    if up == 1 && down == 1 {
        return vec![1.0];
    }
    let ratio = up.max(down);
    let centre = (ZERO_CROSSINGS * ratio) as f64;
    let cutoff = ROLLOFF * 0.5 / ratio as f64;
    let window_scale = bessel_i0(KAISER_BETA);
    (0..=2 * ZERO_CROSSINGS * ratio)
        .map(|index| {
            let offset = index as f64 - centre;
            let sinc = if offset == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * offset).sin()
                    / (std::f64::consts::PI * offset)
            };
            let shape = (1.0 - (offset / centre).powi(2)).max(0.0).sqrt();
            sinc * bessel_i0(KAISER_BETA * shape) / window_scale
        })
        .collect()
}

/// Splits the prototype into `up` branches of `taps` fixed-point coefficients, each reversed
/// (oldest input first) and summing to exactly [`UNITY`].
fn polyphase(prototype: &[f64], up: usize, taps: usize) -> Vec<i32> {
    let mut branches = Vec::with_capacity(up * taps);
    for branch in 0..up {
        let real: Vec<f64> = (0..taps)
            .rev()
            .map(|tap| prototype.get(branch + tap * up).copied().unwrap_or(0.0))
            .collect();
        let gain: f64 = real.iter().sum();
        let mut fixed: Vec<i64> = real
            .iter()
            .map(|&value| (value / gain * UNITY as f64).round() as i64)
            .collect();
        let residue = UNITY - fixed.iter().sum::<i64>();
        let peak = (0..taps)
            .max_by_key(|&tap| fixed[tap].abs())
            .expect("a branch has at least one tap");
        fixed[peak] += residue;
        branches.extend(fixed.iter().map(|&value| value as i32));
    }
    branches
}

/// The zeroth-order modified Bessel function of the first kind, by its power series.
fn bessel_i0(x: f64) -> f64 {
    let quarter_square = x * x / 4.0;
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > sum * 1e-16 {
        term *= quarter_square / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests;

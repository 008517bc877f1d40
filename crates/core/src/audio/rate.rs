//! The sample rates the call path speaks, and conversions between samples and milliseconds.
//!
//! Every supported rate is a whole number of kilohertz, so sample/millisecond conversions are
//! exact integer arithmetic.

use std::fmt;

/// A sample rate of mono PCM on the call path.
///
/// 8 kHz is telephony (G.711), 16 kHz and 24 kHz are what realtime model APIs speak, and 48 kHz is
/// WebRTC (Opus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8000 Hz.
    Hz8k,
    /// 16000 Hz.
    Hz16k,
    /// 24000 Hz.
    Hz24k,
    /// 48000 Hz.
    Hz48k,
}

impl SampleRate {
    /// Every supported rate, lowest first.
    pub const ALL: [SampleRate; 4] = [Self::Hz8k, Self::Hz16k, Self::Hz24k, Self::Hz48k];

    /// The rate in samples per second.
    pub const fn hz(self) -> u32 {
        match self {
            Self::Hz8k => 8_000,
            Self::Hz16k => 16_000,
            Self::Hz24k => 24_000,
            Self::Hz48k => 48_000,
        }
    }

    /// The rate for a number of samples per second, or `None` if it is not supported.
    pub const fn from_hz(hz: u32) -> Option<SampleRate> {
        match hz {
            8_000 => Some(Self::Hz8k),
            16_000 => Some(Self::Hz16k),
            24_000 => Some(Self::Hz24k),
            48_000 => Some(Self::Hz48k),
            _ => None,
        }
    }

    /// Samples in one millisecond (exact: every supported rate is a whole number of kHz).
    pub const fn samples_per_ms(self) -> u32 {
        self.hz() / 1_000
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

/// Whole milliseconds covered by `samples` at `rate`, rounded down.
pub const fn duration_ms(samples: u64, rate: SampleRate) -> u64 {
    samples / rate.samples_per_ms() as u64
}

/// Samples covering `ms` milliseconds at `rate` (saturating at `u64::MAX`).
pub const fn samples_for_ms(ms: u64, rate: SampleRate) -> u64 {
    ms.saturating_mul(rate.samples_per_ms() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_round_trips_through_its_hertz() {
        for rate in SampleRate::ALL {
            assert_eq!(SampleRate::from_hz(rate.hz()), Some(rate));
        }
        assert_eq!(SampleRate::from_hz(44_100), None);
        assert_eq!(SampleRate::from_hz(0), None);
    }

    #[test]
    fn durations_round_down_to_whole_milliseconds() {
        assert_eq!(duration_ms(160, SampleRate::Hz8k), 20);
        assert_eq!(duration_ms(167, SampleRate::Hz8k), 20);
        assert_eq!(duration_ms(168, SampleRate::Hz8k), 21);
        assert_eq!(duration_ms(960, SampleRate::Hz48k), 20);
        assert_eq!(duration_ms(0, SampleRate::Hz24k), 0);
    }

    #[test]
    fn sample_counts_are_exact_and_saturate() {
        assert_eq!(samples_for_ms(20, SampleRate::Hz8k), 160);
        assert_eq!(samples_for_ms(20, SampleRate::Hz16k), 320);
        assert_eq!(samples_for_ms(20, SampleRate::Hz24k), 480);
        assert_eq!(samples_for_ms(1_000, SampleRate::Hz48k), 48_000);
        assert_eq!(samples_for_ms(u64::MAX, SampleRate::Hz48k), u64::MAX);
    }
}

//! Server VAD for the simulator: an energy detector on 20 ms frames.
//!
//! A frame is voiced when its RMS is above the threshold. `threshold` (0..1, as in the session's
//! `server_vad`) maps linearly to -60..-20 dBFS, so the default 0.5 is -40 dBFS. Speech starts
//! after 60 ms of consecutive voiced frames and stops after `silence_duration_ms` of unvoiced
//! ones. Times are audio milliseconds, counted from the bytes appended, never from the clock.

/// Consecutive voiced audio that counts as speech.
const ONSET_MS: u64 = 60;
const FRAME_MS: u64 = 20;

/// The `server_vad` settings the detector uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct VadConfig {
    pub(super) threshold: f64,
    pub(super) prefix_padding_ms: u64,
    pub(super) silence_duration_ms: u64,
}

/// A turn boundary found in the audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum VadEvent {
    /// Speech began; `audio_start_ms` includes the prefix padding.
    Started { audio_start_ms: u64 },
    /// Speech ended; `audio_end_ms` includes the trailing silence.
    Stopped { audio_end_ms: u64 },
}

/// The detector's state for one input buffer.
#[derive(Debug)]
pub(super) struct Vad {
    config: VadConfig,
    frame_len: usize,
    pending: Vec<i16>,
    /// Audio ms at the start of the next frame.
    position_ms: u64,
    /// Audio ms where the detector began (the buffer start); padding never reaches before it.
    floor_ms: u64,
    voiced_ms: u64,
    onset_ms: u64,
    silent_ms: u64,
    speaking: bool,
}

impl Vad {
    /// A detector for audio at `rate` Hz whose first sample is at `start_ms`.
    pub(super) fn new(config: VadConfig, rate: u32, start_ms: u64) -> Self {
        Self {
            config,
            frame_len: (rate / 50) as usize,
            pending: Vec::new(),
            position_ms: start_ms,
            floor_ms: start_ms,
            voiced_ms: 0,
            onset_ms: start_ms,
            silent_ms: 0,
            speaking: false,
        }
    }

    /// True between `Started` and `Stopped`.
    pub(super) fn speaking(&self) -> bool {
        self.speaking
    }

    fn threshold_dbfs(&self) -> f64 {
        -60.0 + 40.0 * self.config.threshold.clamp(0.0, 1.0)
    }

    /// Feeds samples; returns the boundaries they complete, in order.
    pub(super) fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        self.pending.extend_from_slice(samples);
        let whole = self.pending.len() / self.frame_len * self.frame_len;
        let frames: Vec<i16> = self.pending.drain(..whole).collect();
        let threshold = self.threshold_dbfs();
        let mut events = Vec::new();
        for frame in frames.chunks_exact(self.frame_len) {
            let voiced = dbfs(frame) > threshold;
            let frame_start = self.position_ms;
            self.position_ms += FRAME_MS;
            if voiced {
                if self.voiced_ms == 0 {
                    self.onset_ms = frame_start;
                }
                self.voiced_ms += FRAME_MS;
                self.silent_ms = 0;
                if !self.speaking && self.voiced_ms >= ONSET_MS {
                    self.speaking = true;
                    let padded = self.onset_ms.saturating_sub(self.config.prefix_padding_ms);
                    events.push(VadEvent::Started {
                        audio_start_ms: padded.max(self.floor_ms),
                    });
                }
            } else {
                self.voiced_ms = 0;
                if self.speaking {
                    self.silent_ms += FRAME_MS;
                    if self.silent_ms >= self.config.silence_duration_ms.max(FRAME_MS) {
                        self.speaking = false;
                        self.silent_ms = 0;
                        events.push(VadEvent::Stopped {
                            audio_end_ms: self.position_ms,
                        });
                    }
                }
            }
        }
        events
    }
}

/// How much of `samples` (at `rate` Hz) is voiced at the default threshold (-40 dBFS), counted
/// in whole 20 ms frames.
pub(super) fn voiced_ms(samples: &[i16], rate: u32) -> u64 {
    let frame_len = (rate / 50).max(1) as usize;
    let voiced = samples
        .chunks_exact(frame_len)
        .filter(|frame| dbfs(frame) > -40.0)
        .count();
    voiced as u64 * FRAME_MS
}

/// RMS level of a frame in dBFS.
fn dbfs(frame: &[i16]) -> f64 {
    if frame.is_empty() {
        return f64::NEG_INFINITY;
    }
    let energy: f64 = frame.iter().map(|&s| f64::from(s).powi(2)).sum();
    let rms = (energy / frame.len() as f64).sqrt();
    20.0 * (rms.max(1e-9) / 32_768.0).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: VadConfig = VadConfig {
        threshold: 0.5,
        prefix_padding_ms: 300,
        silence_duration_ms: 500,
    };

    fn loud(ms: usize) -> Vec<i16> {
        (0..ms * 24)
            .map(|n| if n % 2 == 0 { 3_000 } else { -3_000 })
            .collect()
    }

    #[test]
    fn speech_starts_after_60_ms_and_stops_after_the_silence_duration() {
        let mut vad = Vad::new(CONFIG, 24_000, 0);
        assert!(vad.push(&vec![0; 24 * 1_000]).is_empty());
        assert!(vad.push(&loud(40)).is_empty());
        assert_eq!(
            vad.push(&loud(20)),
            vec![VadEvent::Started {
                audio_start_ms: 700
            }]
        );
        assert!(vad.speaking());
        assert!(vad.push(&loud(500)).is_empty());
        assert!(vad.push(&vec![0; 24 * 480]).is_empty());
        assert_eq!(
            vad.push(&vec![0; 24 * 20]),
            vec![VadEvent::Stopped {
                audio_end_ms: 2_060
            }]
        );
    }

    #[test]
    fn a_short_click_is_not_speech_and_padding_stops_at_the_buffer_start() {
        let mut vad = Vad::new(CONFIG, 8_000, 100);
        let click: Vec<i16> = (0..8 * 40).map(|_| 5_000).collect();
        assert!(vad.push(&click).is_empty());
        assert!(vad.push(&vec![0; 8 * 100]).is_empty());
        let speech: Vec<i16> = (0..8 * 60).map(|_| 5_000).collect();
        assert_eq!(
            vad.push(&speech),
            vec![VadEvent::Started {
                audio_start_ms: 100
            }]
        );
    }
}

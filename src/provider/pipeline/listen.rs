//! Turn detection on caller audio with the `earshot` VAD: decode to 16 kHz, cut 16 ms frames,
//! score each, and find where a turn starts and ends. Keeps the utterance (with a pre-roll, so
//! the first syllable is not cut) for speech-to-text. Counts audio time, never the clock.

use super::audio::{CallerDecoder, UnsupportedFormat};
use std::{collections::VecDeque, num::NonZeroUsize};
use voxgate_core::{audio::Framer, session::AudioFormat};

/// Samples per earshot frame: 16 ms at 16 kHz (the detector accepts nothing else).
const FRAME_SAMPLES: usize = 256;
const FRAME_MS: u64 = 16;
/// Score at or above which a frame is voiced (earshot's recommended default).
pub(super) const VOICED_SCORE: f32 = 0.5;
/// Consecutive voiced audio that starts a turn.
pub(super) const ONSET_MS: u64 = 60;
/// Consecutive unvoiced audio that ends a turn.
pub(super) const SILENCE_MS: u64 = 500;
/// Audio kept from before the onset and sent with the utterance.
pub(super) const PREROLL_MS: u64 = 300;
/// Trailing silence kept at the end of an utterance (the rest of the end-of-turn gap is cut).
const TAIL_MS: u64 = 200;
/// A turn this long ends even without a pause (bounds memory and the upload).
pub(super) const MAX_TURN_MS: u64 = 30_000;

const fn frames(ms: u64) -> usize {
    ms.div_ceil(FRAME_MS) as usize
}

/// A turn boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Turn {
    /// The caller started speaking.
    Started,
    /// The caller stopped; the utterance as 16 kHz PCM, pre-roll included.
    Stopped(Vec<i16>),
}

/// The detector for one call's caller audio.
pub(super) struct Listener {
    decoder: CallerDecoder,
    pcm: Vec<i16>,
    framer: Framer<i16>,
    detector: Box<earshot::Detector>,
    /// Recent frames while nobody speaks (the pre-roll).
    recent: VecDeque<Vec<i16>>,
    utterance: Vec<i16>,
    voiced_run: usize,
    unvoiced_run: usize,
    speaking: bool,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("speaking", &self.speaking)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// A detector for caller audio in `format`.
    pub(super) fn new(format: AudioFormat) -> Result<Self, UnsupportedFormat> {
        let frame_len = NonZeroUsize::new(FRAME_SAMPLES).unwrap_or(NonZeroUsize::MIN);
        Ok(Self {
            decoder: CallerDecoder::new(format)?,
            pcm: Vec::new(),
            framer: Framer::with_frame_len(frame_len),
            detector: earshot::Detector::default_boxed(),
            recent: VecDeque::with_capacity(frames(PREROLL_MS) + 1),
            utterance: Vec::new(),
            voiced_run: 0,
            unvoiced_run: 0,
            speaking: false,
        })
    }

    /// True between `Started` and `Stopped`.
    pub(super) fn speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds caller audio; returns the turn boundaries it completes, in order.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Vec<Turn> {
        self.pcm.clear();
        self.decoder.push(bytes, &mut self.pcm);
        self.framer.push(&self.pcm);
        let mut turns = Vec::new();
        while let Some(frame) = self.framer.pop_frame() {
            let voiced = self.detector.predict_i16(&frame) >= VOICED_SCORE;
            if let Some(turn) = self.frame(frame, voiced) {
                turns.push(turn);
            }
        }
        turns
    }

    fn frame(&mut self, frame: Vec<i16>, voiced: bool) -> Option<Turn> {
        if self.speaking {
            return self.during_speech(frame, voiced);
        }
        self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
        self.recent.push_back(frame);
        if self.recent.len() > frames(PREROLL_MS) {
            self.recent.pop_front();
        }
        if self.voiced_run < frames(ONSET_MS) {
            return None;
        }
        self.speaking = true;
        self.unvoiced_run = 0;
        self.utterance = self.recent.drain(..).flatten().collect();
        Some(Turn::Started)
    }

    fn during_speech(&mut self, frame: Vec<i16>, voiced: bool) -> Option<Turn> {
        self.utterance.extend_from_slice(&frame);
        self.unvoiced_run = if voiced { 0 } else { self.unvoiced_run + 1 };
        let too_long = self.utterance.len() >= frames(MAX_TURN_MS) * FRAME_SAMPLES;
        if self.unvoiced_run < frames(SILENCE_MS) && !too_long {
            return None;
        }
        let cut = self.unvoiced_run.saturating_sub(frames(TAIL_MS)) * FRAME_SAMPLES;
        let mut utterance = std::mem::take(&mut self.utterance);
        utterance.truncate(utterance.len().saturating_sub(cut));
        self.speaking = false;
        self.voiced_run = 0;
        self.unvoiced_run = 0;
        Some(Turn::Stopped(utterance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::pipeline::stub::fixture;

    /// Turn boundaries in audio ms: (started_at, stopped_at, utterance_ms).
    fn turns_in(format: AudioFormat, audio: &[u8], bytes_per_ms: usize) -> Vec<(u64, u64, u64)> {
        let mut listener = Listener::new(format).expect("format");
        let mut found = Vec::new();
        let mut started = 0;
        for (index, chunk) in audio.chunks(bytes_per_ms * 20).enumerate() {
            let at = index as u64 * 20 + 20;
            for turn in listener.push(chunk) {
                match turn {
                    Turn::Started => started = at,
                    Turn::Stopped(utterance) => {
                        found.push((started, at, utterance.len() as u64 / 16));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn each_utterance_of_the_16k_fixture_is_one_turn_with_preroll() {
        let Some(mut audio) = fixture("speech-16k.wav") else {
            return;
        };
        audio.extend(vec![0; 32_000]);
        let turns = turns_in(AudioFormat::Pcm16 { rate: 16_000 }, &audio, 32);
        assert_eq!(turns.len(), 3, "{turns:?}");
        for (started, stopped, utterance_ms) in turns {
            assert!(stopped - started >= SILENCE_MS, "{started}..{stopped}");
            // The utterance spans the speech plus pre-roll before the onset and a short tail.
            let spoken = stopped - started - SILENCE_MS;
            assert!(
                utterance_ms >= spoken + PREROLL_MS / 2,
                "{utterance_ms} vs {spoken}"
            );
        }
    }

    #[test]
    fn the_8k_mulaw_fixture_gives_the_same_turns() {
        let (Some(pcm), Some(ulaw)) = (fixture("speech-16k.wav"), fixture("speech-8k.ulaw")) else {
            return;
        };
        let pcm = turns_in(AudioFormat::Pcm16 { rate: 16_000 }, &pcm, 32);
        let mut ulaw = ulaw;
        ulaw.extend(vec![0xFF; 8_000]);
        let ulaw = turns_in(AudioFormat::Pcmu, &ulaw, 8);
        assert_eq!(ulaw.len(), 3, "{ulaw:?}");
        for ((a, b, _), (c, d, _)) in pcm.iter().zip(&ulaw) {
            assert!(
                a.abs_diff(*c) <= 100 && b.abs_diff(*d) <= 100,
                "{pcm:?} vs {ulaw:?}"
            );
        }
    }

    #[test]
    fn silence_and_noise_start_no_turn() {
        assert!(turns_in(AudioFormat::Pcmu, &[0xFF; 16_000], 8).is_empty());
        if let Some(noise) = fixture("noise-16k.wav") {
            assert!(turns_in(AudioFormat::Pcm16 { rate: 16_000 }, &noise, 32).is_empty());
        }
    }
}

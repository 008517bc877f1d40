//! Recent caller audio, as it arrived, bounded by duration: what a provider switch replays so
//! that nothing the caller said is lost.

use super::event::AudioChunk;
use std::collections::VecDeque;

/// Caller audio chunks covering at most `window_ms`, oldest first.
#[derive(Debug)]
pub(super) struct CallerAudio {
    chunks: VecDeque<AudioChunk>,
    total_ms: u64,
    window_ms: u64,
}

impl CallerAudio {
    pub(super) fn new(window_ms: u64) -> Self {
        Self {
            chunks: VecDeque::new(),
            total_ms: 0,
            window_ms,
        }
    }

    /// Keeps a chunk, dropping the oldest ones beyond the window.
    pub(super) fn push(&mut self, chunk: AudioChunk) {
        self.total_ms += chunk.duration_ms();
        self.chunks.push_back(chunk);
        while self.total_ms > self.window_ms {
            let Some(oldest) = self.chunks.pop_front() else {
                break;
            };
            self.total_ms -= oldest.duration_ms();
        }
    }

    pub(super) fn chunks(&self) -> impl Iterator<Item = &AudioChunk> {
        self.chunks.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::AudioFormat;

    #[test]
    fn keeps_only_the_most_recent_window() {
        let mut audio = CallerAudio::new(100);
        for byte in 0..8u8 {
            audio.push(AudioChunk {
                format: AudioFormat::Pcmu,
                data: vec![byte; 160],
            });
        }
        let kept: Vec<u8> = audio.chunks().map(|c| c.data[0]).collect();
        assert_eq!(kept, vec![3, 4, 5, 6, 7]);
    }
}

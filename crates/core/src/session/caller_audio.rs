//! Recent caller audio, as it arrived, bounded by duration: what a provider switch replays so
//! that nothing the caller said is lost.
//!
//! Positions are milliseconds of caller audio since the call started (the stream position), so
//! the session can remember where an acknowledged turn ended and replay only what came after.

use super::event::AudioChunk;
use std::collections::VecDeque;

/// Caller audio chunks covering at most `window_ms`, oldest first, with their stream positions.
#[derive(Debug)]
pub(super) struct CallerAudio {
    /// (stream position where the chunk starts, chunk)
    chunks: VecDeque<(u64, AudioChunk)>,
    kept_ms: u64,
    window_ms: u64,
    /// Stream position after the newest chunk.
    end_ms: u64,
}

impl CallerAudio {
    pub(super) fn new(window_ms: u64) -> Self {
        Self {
            chunks: VecDeque::new(),
            kept_ms: 0,
            window_ms,
            end_ms: 0,
        }
    }

    /// Keeps a chunk, dropping the oldest ones beyond the window.
    pub(super) fn push(&mut self, chunk: AudioChunk) {
        let ms = chunk.duration_ms();
        self.chunks.push_back((self.end_ms, chunk));
        self.end_ms += ms;
        self.kept_ms += ms;
        while self.kept_ms > self.window_ms {
            let Some((_, oldest)) = self.chunks.pop_front() else {
                break;
            };
            self.kept_ms -= oldest.duration_ms();
        }
    }

    /// Stream position after the newest chunk.
    pub(super) fn end_ms(&self) -> u64 {
        self.end_ms
    }

    /// The kept chunks that end after stream position `position_ms` (a chunk straddling it is
    /// included whole: replaying a few milliseconds twice is harmless, losing them is not).
    pub(super) fn since(&self, position_ms: u64) -> impl Iterator<Item = &AudioChunk> {
        self.chunks
            .iter()
            .filter(move |(start, chunk)| start + chunk.duration_ms() > position_ms)
            .map(|(_, chunk)| chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::AudioFormat;

    fn chunk(byte: u8) -> AudioChunk {
        AudioChunk {
            format: AudioFormat::Pcmu,
            data: vec![byte; 160],
        }
    }

    #[test]
    fn keeps_only_the_most_recent_window() {
        let mut audio = CallerAudio::new(100);
        for byte in 0..8u8 {
            audio.push(chunk(byte));
        }
        let kept: Vec<u8> = audio.since(0).map(|c| c.data[0]).collect();
        assert_eq!(kept, vec![3, 4, 5, 6, 7]);
        assert_eq!(audio.end_ms(), 160);
    }

    #[test]
    fn since_returns_the_chunks_after_a_position_including_a_straddling_one() {
        let mut audio = CallerAudio::new(1000);
        for byte in 0..5u8 {
            audio.push(chunk(byte));
        }
        let after = |ms| audio.since(ms).map(|c| c.data[0]).collect::<Vec<u8>>();
        assert_eq!(after(0), vec![0, 1, 2, 3, 4]);
        assert_eq!(after(40), vec![2, 3, 4]);
        assert_eq!(after(50), vec![2, 3, 4]);
        assert_eq!(after(100), Vec::<u8>::new());
    }
}

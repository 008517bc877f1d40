//! A bounded ring of the most recent caller audio, addressed by absolute stream position, so a
//! session can replay "everything since the last acknowledged turn" to a fresh provider.
//!
//! Positions count samples since the stream began (`u64`, never wraps in practice). When the ring
//! is full, new audio overwrites the oldest; asking for audio that is gone yields what is left
//! plus an explicit count of the samples that were lost, never a silently shortened excerpt.

use super::rate::{SampleRate, duration_ms, samples_for_ms};

/// Audio read back from an [`AudioRing`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excerpt {
    /// Absolute stream position of `samples[0]`.
    pub start: u64,
    /// The retained samples from `start` up to the newest.
    pub samples: Vec<i16>,
    /// Samples between the requested position and `start` that had already been overwritten.
    pub lost_samples: u64,
}

impl Excerpt {
    /// Whether the excerpt starts exactly where it was asked to (nothing was lost).
    pub fn is_complete(&self) -> bool {
        self.lost_samples == 0
    }
}

/// A position past the newest sample was asked for: a caller bug, reported instead of guessed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream position {position} is ahead of the newest audio (position {end})")]
pub struct PositionAhead {
    /// The position asked for.
    pub position: u64,
    /// The current end of the stream ([`AudioRing::mark`]).
    pub end: u64,
}

/// The last `capacity_ms` of one mono 16-bit stream at a fixed rate.
#[derive(Clone, Debug)]
pub struct AudioRing {
    rate: SampleRate,
    /// Fixed-size storage; the sample at absolute position `p` lives in slot `p % len`.
    slots: Vec<i16>,
    /// Position one past the newest sample: the number of samples ever pushed.
    end: u64,
}

impl AudioRing {
    /// An empty ring holding up to `capacity_ms` of audio at `rate`. A zero capacity keeps
    /// nothing but still counts positions.
    pub fn new(rate: SampleRate, capacity_ms: u32) -> Self {
        let capacity = samples_for_ms(u64::from(capacity_ms), rate) as usize;
        Self {
            rate,
            slots: vec![0; capacity],
            end: 0,
        }
    }

    /// The sample rate of the stream.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// How many samples the ring can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Appends audio, overwriting the oldest samples once the ring is full.
    pub fn push(&mut self, samples: &[i16]) {
        let capacity = self.slots.len();
        if capacity > 0 {
            // Only the newest `capacity` samples of the chunk can survive.
            let skipped = samples.len().saturating_sub(capacity);
            let kept = &samples[skipped..];
            let slot = ((self.end + skipped as u64) % capacity as u64) as usize;
            let until_wrap = kept.len().min(capacity - slot);
            self.slots[slot..slot + until_wrap].copy_from_slice(&kept[..until_wrap]);
            self.slots[..kept.len() - until_wrap].copy_from_slice(&kept[until_wrap..]);
        }
        self.end += samples.len() as u64;
    }

    /// The current stream position (one past the newest sample); pass it to [`Self::since`]
    /// later to get everything pushed after this moment.
    pub fn mark(&self) -> u64 {
        self.end
    }

    /// Position of the oldest sample still retained.
    pub fn oldest(&self) -> u64 {
        self.end - self.len() as u64
    }

    /// Samples currently retained.
    pub fn len(&self) -> usize {
        self.end.min(self.slots.len() as u64) as usize
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whole milliseconds of audio currently retained.
    pub fn len_ms(&self) -> u64 {
        duration_ms(self.len() as u64, self.rate)
    }

    /// Everything from `position` up to the newest sample. If part of it was overwritten, the
    /// excerpt starts at the oldest retained sample and says how many samples were lost.
    pub fn since(&self, position: u64) -> Result<Excerpt, PositionAhead> {
        if position > self.end {
            return Err(PositionAhead {
                position,
                end: self.end,
            });
        }
        Ok(self.excerpt(position))
    }

    /// Everything from `stream_ms` milliseconds after the stream began; see [`Self::since`].
    pub fn since_ms(&self, stream_ms: u64) -> Result<Excerpt, PositionAhead> {
        self.since(samples_for_ms(stream_ms, self.rate))
    }

    /// The most recent `ms` milliseconds, or all of the stream if it is shorter. Audio that
    /// existed in that window but was overwritten is reported in `lost_samples`.
    pub fn last_ms(&self, ms: u64) -> Excerpt {
        self.excerpt(self.end.saturating_sub(samples_for_ms(ms, self.rate)))
    }

    /// The excerpt from `position` (at most [`Self::mark`]) to the newest sample.
    fn excerpt(&self, position: u64) -> Excerpt {
        let start = position.max(self.oldest());
        let count = (self.end - start) as usize;
        let mut samples = Vec::with_capacity(count);
        if count > 0 {
            let capacity = self.slots.len();
            let slot = (start % capacity as u64) as usize;
            let until_wrap = count.min(capacity - slot);
            samples.extend_from_slice(&self.slots[slot..slot + until_wrap]);
            samples.extend_from_slice(&self.slots[..count - until_wrap]);
        }
        Excerpt {
            start,
            samples,
            lost_samples: start - position,
        }
    }
}

#[cfg(test)]
mod tests;

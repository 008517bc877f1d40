//! 20 ms framing: cutting arbitrary-length chunks of audio into the fixed frames that RTP,
//! WebRTC and the model APIs exchange, keeping the remainder for the next chunk.

use super::rate::SampleRate;
use std::num::NonZeroUsize;

/// Length of one frame on the call path, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Samples in one [`FRAME_MS`] frame at `rate`: 160, 320, 480 or 960. For G.711 (8 kHz, one byte
/// per sample) that is also the frame length in bytes.
pub const fn samples_per_frame(rate: SampleRate) -> usize {
    (rate.samples_per_ms() * FRAME_MS) as usize
}

/// Collects chunks of samples (`i16` PCM, `u8` G.711 codes, ...) and hands out complete frames.
///
/// ```
/// use voxgate_core::audio::{Framer, SampleRate};
///
/// let mut framer = Framer::<i16>::new(SampleRate::Hz8k);
/// framer.push(&[0; 100]);
/// assert_eq!(framer.pop_frame(), None);
/// framer.push(&[0; 300]);
/// assert_eq!(framer.frames().count(), 2);
/// assert_eq!(framer.remainder().len(), 80);
/// ```
#[derive(Clone, Debug)]
pub struct Framer<T> {
    frame_len: usize,
    /// Buffered samples; those before `start` have already been handed out.
    buffer: Vec<T>,
    start: usize,
}

impl<T: Copy> Framer<T> {
    /// A framer of [`FRAME_MS`] frames at `rate`.
    pub fn new(rate: SampleRate) -> Self {
        Self::of_len(samples_per_frame(rate))
    }

    /// A framer of frames of `frame_len` samples.
    pub fn with_frame_len(frame_len: NonZeroUsize) -> Self {
        Self::of_len(frame_len.get())
    }

    fn of_len(frame_len: usize) -> Self {
        Self {
            frame_len,
            buffer: Vec::with_capacity(frame_len * 2),
            start: 0,
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Appends a chunk of any length.
    pub fn push(&mut self, chunk: &[T]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The oldest complete frame, if one is buffered.
    pub fn pop_frame(&mut self) -> Option<Vec<T>> {
        let frame = self
            .buffer
            .get(self.start..self.start + self.frame_len)?
            .to_vec();
        self.start += self.frame_len;
        Some(frame)
    }

    /// Every complete frame buffered, oldest first; the remainder stays.
    pub fn frames(&mut self) -> impl Iterator<Item = Vec<T>> + '_ {
        std::iter::from_fn(|| self.pop_frame())
    }

    /// Buffered samples that do not yet fill a frame (after the complete frames have been popped).
    pub fn remainder(&self) -> &[T] {
        &self.buffer[self.start..]
    }

    /// Removes and returns everything buffered, complete frames included (e.g. at hang-up).
    pub fn take_buffered(&mut self) -> Vec<T> {
        let rest = self.buffer.split_off(self.start);
        self.buffer.clear();
        self.start = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_twenty_milliseconds_at_every_rate() {
        let lengths = SampleRate::ALL.map(samples_per_frame);
        assert_eq!(lengths, [160, 320, 480, 960]);
    }

    #[test]
    fn chunks_smaller_than_a_frame_are_held_until_one_fills() {
        let mut framer = Framer::new(SampleRate::Hz8k);
        for value in 0..159 {
            framer.push(&[value]);
            assert_eq!(framer.pop_frame(), None);
        }
        framer.push(&[159, 160]);
        let frame = framer.pop_frame().expect("160 samples make a frame");
        assert_eq!(frame, (0..160).collect::<Vec<i16>>());
        assert_eq!(framer.pop_frame(), None);
        assert_eq!(framer.remainder(), &[160]);
    }

    #[test]
    fn a_large_chunk_yields_every_whole_frame_in_order_and_keeps_the_rest() {
        let mut framer = Framer::new(SampleRate::Hz16k);
        let samples: Vec<i16> = (0..1_000).collect();
        framer.push(&samples);
        let frames: Vec<_> = framer.frames().collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames.concat(), samples[..960]);
        assert_eq!(framer.remainder(), &samples[960..]);
    }

    #[test]
    fn odd_chunk_sizes_lose_and_duplicate_nothing() {
        let mut framer = Framer::new(SampleRate::Hz24k);
        let samples: Vec<i16> = (0..5_000).map(|i| (i % 3_001) as i16).collect();
        let mut collected = Vec::new();
        for chunk in samples.chunks(137) {
            framer.push(chunk);
            collected.extend(
                framer
                    .frames()
                    .inspect(|frame| assert_eq!(frame.len(), 480)),
            );
        }
        assert_eq!(collected.len(), 5_000 / 480);
        assert_eq!(collected.concat(), samples[..480 * 10]);
        assert_eq!(framer.remainder(), &samples[4_800..]);
    }

    #[test]
    fn g711_bytes_frame_like_samples() {
        let mut framer = Framer::<u8>::new(SampleRate::Hz8k);
        framer.push(&[0xFF; 400]);
        assert_eq!(framer.frames().count(), 2);
        assert_eq!(framer.remainder().len(), 80);
    }

    #[test]
    fn custom_frame_lengths_are_honoured() {
        let mut framer = Framer::with_frame_len(NonZeroUsize::new(3).expect("non-zero"));
        framer.push(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(framer.frame_len(), 3);
        assert_eq!(framer.frames().collect::<Vec<_>>(), [[1, 2, 3], [4, 5, 6]]);
        assert_eq!(framer.remainder(), &[7]);
    }

    #[test]
    fn taking_the_buffered_samples_empties_the_framer() {
        let mut framer = Framer::new(SampleRate::Hz8k);
        framer.push(&[5; 170]);
        assert_eq!(framer.take_buffered().len(), 170);
        assert!(framer.remainder().is_empty());
        framer.push(&[6; 10]);
        assert_eq!(framer.pop_frame(), None);
        assert_eq!(framer.take_buffered(), [6; 10]);
    }

    #[test]
    fn empty_chunks_change_nothing() {
        let mut framer = Framer::<i16>::new(SampleRate::Hz48k);
        framer.push(&[]);
        assert_eq!(framer.pop_frame(), None);
        assert!(framer.remainder().is_empty());
    }
}

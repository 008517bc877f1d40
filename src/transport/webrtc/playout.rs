//! Agent audio waiting to be sent, and the 20 ms pace it leaves at.
//!
//! The provider makes audio faster than real time; a WebRTC peer plays what arrives, so voxgate
//! queues it here and releases one 20 ms frame per tick. Each chunk's mark is reported once the
//! frame holding the chunk's last sample has been released: that is how barge-in truncation knows
//! what the caller heard. Clearing drops the queue and its marks at once.
//!
//! The core's `audio::Pacer` does the same job without a media clock (it restarts its grid
//! after a late tick instead of catching up a little, and does not stamp frames); this one stamps
//! each frame with the instant it is due, which str0m's writer takes as the frame's wall-clock
//! time. Folding the two into one is left for the SIP leg, which needs the core's behaviour.
//! Sans-IO: time is an argument.

use super::codec::FRAME_SAMPLES;
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};
use voxgate_core::session::MarkId;

/// One frame every 20 ms.
pub(super) const FRAME_INTERVAL: Duration = Duration::from_millis(20);
/// A tick later than this (the endpoint was busy) does not earn a catch-up burst: the pace
/// starts over from now, so the caller never gets more than a few frames at once.
const MAX_LAG: Duration = Duration::from_millis(60);

/// A frame ready to encode and send.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Frame {
    /// [`FRAME_SAMPLES`] samples at 24 kHz (the tail of a chunk is padded with silence).
    pub samples: Vec<i16>,
    /// When the frame is due: its place on the media clock.
    pub due: Instant,
    /// Marks whose audio is now all sent.
    pub marks: Vec<MarkId>,
}

/// The queue and its pacer.
#[derive(Debug, Default)]
pub(super) struct Playout {
    queue: VecDeque<i16>,
    /// Sample position (counting every sample ever queued) at which each mark is reached.
    marks: VecDeque<(u64, MarkId)>,
    /// Samples released so far (including cleared ones).
    released: u64,
    next_due: Option<Instant>,
    /// The queue ran dry after the last frame: new audio starts on time, with no catch-up.
    idle: bool,
}

impl Playout {
    /// Queues a chunk of 24 kHz samples followed by its mark.
    pub(super) fn push(&mut self, samples: &[i16], mark: MarkId) {
        self.queue.extend(samples);
        let end = self.released + self.queue.len() as u64;
        self.marks.push_back((end, mark));
    }

    /// Drops all queued audio and its marks (barge-in). Returns how many samples were dropped.
    pub(super) fn clear(&mut self) -> usize {
        let dropped = self.queue.len();
        self.released += dropped as u64;
        self.queue.clear();
        self.marks.clear();
        dropped
    }

    /// When the next frame is due, if anything is queued or a mark is waiting.
    pub(super) fn next_due(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() && self.marks.is_empty() {
            return None;
        }
        let floor = if self.idle { now } else { now - MAX_LAG };
        Some(self.next_due.map_or(now, |due| due.max(floor)))
    }

    /// The next frame if it is due at `now`. Call until `None`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Frame> {
        let due = self.next_due(now)?;
        if due > now {
            return None;
        }
        if self.queue.is_empty() {
            // Only marks of empty chunks are left: report them without sending anything.
            let marks = self.marks.drain(..).map(|(_, mark)| mark).collect();
            return Some(Frame {
                samples: Vec::new(),
                due,
                marks,
            });
        }
        let take = self.queue.len().min(FRAME_SAMPLES);
        let mut samples: Vec<i16> = self.queue.drain(..take).collect();
        samples.resize(FRAME_SAMPLES, 0);
        self.released += take as u64;
        let mut marks = Vec::new();
        while let Some(&(position, mark)) = self.marks.front() {
            if position > self.released {
                break;
            }
            marks.push(mark);
            self.marks.pop_front();
        }
        self.next_due = Some(due + FRAME_INTERVAL);
        self.idle = self.queue.is_empty();
        Some(Frame {
            samples,
            due,
            marks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn frames_leave_every_20_ms_and_marks_follow_their_last_sample() {
        let start = Instant::now();
        let mut playout = Playout::default();
        playout.push(&[1; 600], 1); // 25 ms
        playout.push(&[2; 360], 2); // 15 ms: ends exactly on the second frame
        let first = playout.pop_due(start).expect("first frame now");
        assert!(first.marks.is_empty());
        assert_eq!(
            playout.pop_due(start + ms(19)),
            None,
            "not faster than 20 ms"
        );
        let second = playout.pop_due(start + ms(20)).expect("second frame");
        assert_eq!(second.marks, vec![1, 2]);
        assert_eq!(second.samples[..120], [1; 120]);
        assert_eq!(second.samples[120..], [2; 360]);
        assert_eq!(playout.next_due(start + ms(21)), None);
    }

    #[test]
    fn a_short_tail_is_padded_and_clearing_drops_audio_and_marks() {
        let start = Instant::now();
        let mut playout = Playout::default();
        playout.push(&[5; 100], 9);
        let frame = playout.pop_due(start).expect("frame");
        assert_eq!((frame.samples.len(), frame.marks), (FRAME_SAMPLES, vec![9]));
        assert_eq!(frame.samples[100..], [0; 380]);
        playout.push(&[1; 4800], 10);
        assert_eq!(playout.clear(), 4800);
        assert_eq!(playout.pop_due(start + ms(40)), None);
        playout.push(&[1; 480], 11);
        let next = playout.pop_due(start + ms(40)).expect("new audio plays");
        assert_eq!(next.marks, vec![11], "marks before the clear are gone");
    }

    #[test]
    fn a_late_tick_catches_up_a_little_but_never_bursts_the_backlog() {
        let start = Instant::now();
        let mut playout = Playout::default();
        playout.push(&[1; 48_000], 1); // 2 s
        assert!(playout.pop_due(start).is_some());
        let late = start + ms(1000);
        let mut burst = 0;
        while playout.pop_due(late).is_some() {
            burst += 1;
        }
        assert!(burst <= 4, "{burst} frames at once");
        assert!(playout.pop_due(late + ms(20)).is_some());
    }

    #[test]
    fn audio_after_a_pause_starts_on_time_without_a_burst() {
        let start = Instant::now();
        let mut playout = Playout::default();
        playout.push(&[1; 480], 1);
        assert!(playout.pop_due(start).is_some());
        playout.push(&[1; 4800], 2);
        let later = start + ms(5000);
        assert!(playout.pop_due(later).is_some());
        assert_eq!(playout.pop_due(later), None);
    }

    #[test]
    fn the_mark_of_an_empty_chunk_is_reported_at_once() {
        let mut playout = Playout::default();
        playout.push(&[], 3);
        let frame = playout.pop_due(Instant::now()).expect("mark");
        assert_eq!((frame.samples.len(), frame.marks), (0, vec![3]));
    }
}

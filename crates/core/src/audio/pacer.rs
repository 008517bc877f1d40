//! Send-side pacing of agent audio: the provider delivers audio faster than real time, WebRTC
//! must send it at one 20 ms frame per 20 ms, and a playback mark counts as played only once
//! every sample queued before it has been sent. That exact count is what barge-in truncation
//! relies on.
//!
//! The pacer owns the queue, the marks and the schedule; it reads no clock (time comes in as the
//! `now` of each [`Pacer::tick`]) and knows nothing of codecs or sockets. The shell sleeps until
//! [`Pacer::next_tick`], calls [`Pacer::tick`], and sends what it returns.
//!
//! Schedule: frames go out on a 20 ms grid anchored at the first frame sent. A tick before the
//! grid's next instant sends nothing (it may still report marks), so ticking after every push is
//! safe. A tick less than one frame period late keeps the grid, so timer jitter does not slow
//! the pace. A tick a whole period or more late (the shell stalled, or the queue ran dry and
//! refilled) sends one frame and restarts the grid from `now`: missed ticks are not made up
//! with a burst.

use crate::{audio::FRAME_MS, session::MarkId};
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// One frame period.
const PERIOD: Duration = Duration::from_millis(FRAME_MS as u64);

/// What one [`Pacer::tick`] produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// The frame to send now, if one is due.
    pub frame: Option<Vec<i16>>,
    /// Marks whose audio has now all been sent, in the order they were pushed.
    pub played: Vec<MarkId>,
    /// The frame's instant on the grid (its media time: `now` when the grid restarted), when a
    /// frame was sent.
    pub slot: Option<Instant>,
}

/// Paces queued PCM out one frame per 20 ms and reports marks as their audio is sent.
#[derive(Clone, Debug)]
pub struct Pacer {
    frame_samples: usize,
    /// Samples queued, not yet sent.
    queue: VecDeque<i16>,
    /// Samples sent since creation: the stream position of the queue's head.
    sent: u64,
    /// Pending marks with the stream position they follow, oldest first.
    marks: VecDeque<(u64, MarkId)>,
    /// The grid's next instant; `None` before the first frame is sent.
    due: Option<Instant>,
    /// The latest `now` passed to [`Pacer::tick`].
    last_tick: Option<Instant>,
}

impl Pacer {
    /// A pacer of frames of `frame_samples` samples (e.g. 960 at 48 kHz); at least 1.
    pub fn new(frame_samples: usize) -> Self {
        Self {
            frame_samples: frame_samples.max(1),
            queue: VecDeque::new(),
            sent: 0,
            marks: VecDeque::new(),
            due: None,
            last_tick: None,
        }
    }

    /// Queues agent PCM (any length; partial frames are carried over to the next push) followed
    /// by `mark`, which is reported once everything queued before it has been sent. A trailing
    /// partial frame is padded with silence only when a mark follows it, so the mark's audio is
    /// sent whole.
    pub fn push(&mut self, samples: &[i16], mark: Option<MarkId>) {
        self.queue.extend(samples);
        if let Some(mark) = mark {
            self.pad_to_frame();
            self.marks.push_back((self.end(), mark));
        }
    }

    /// Pads a trailing partial frame with silence so it is sent (e.g. when a response ends
    /// without a mark).
    pub fn flush(&mut self) {
        self.pad_to_frame();
    }

    /// One 20 ms tick at `now`: the next frame to send (`None` when idle or when `now` is before
    /// the grid's next instant) and the marks now fully played.
    pub fn tick(&mut self, now: Instant) -> Tick {
        self.last_tick = Some(self.last_tick.map_or(now, |last| last.max(now)));
        let on_time = self.due.is_none_or(|due| now >= due);
        let mut slot = None;
        let frame = (on_time && self.queue.len() >= self.frame_samples).then(|| {
            let this_slot = match self.due {
                Some(due) if now < due + PERIOD => due,
                _ => now,
            };
            slot = Some(this_slot);
            self.due = Some(this_slot + PERIOD);
            self.sent += self.frame_samples as u64;
            self.queue.drain(..self.frame_samples).collect()
        });
        Tick {
            frame,
            played: self.take_played(),
            slot,
        }
    }

    /// Barge-in: drops everything queued and returns the marks that will never play, oldest
    /// first. The grid is kept: audio pushed next goes out on it (or restarts it, if late).
    pub fn clear(&mut self) -> Vec<MarkId> {
        self.queue.clear();
        self.marks.drain(..).map(|(_, mark)| mark).collect()
    }

    /// Milliseconds queued, not yet sent (rounded down).
    pub fn queued_ms(&self) -> u64 {
        self.queue.len() as u64 * u64::from(FRAME_MS) / self.frame_samples as u64
    }

    /// When the next tick is due, for the shell to sleep until; `None` when idle (no whole frame
    /// queued and no mark to report).
    ///
    /// That is the grid's next instant while it runs; when work is waiting and no frame has
    /// been sent yet, the instant of the last tick (already past: tick at once). Before the
    /// pacer has seen any `now` it cannot name an instant and answers `None` then too, so a shell
    /// ticks right after a push that found the pacer idle (an early tick sends nothing, so
    /// this is always safe).
    pub fn next_tick(&self) -> Option<Instant> {
        let mark_ready = self
            .marks
            .front()
            .is_some_and(|&(position, _)| position <= self.sent);
        if self.queue.len() >= self.frame_samples {
            self.due.or(self.last_tick)
        } else if mark_ready {
            self.last_tick.or(self.due)
        } else {
            None
        }
    }

    /// The stream position just after the last queued sample.
    fn end(&self) -> u64 {
        self.sent + self.queue.len() as u64
    }

    fn pad_to_frame(&mut self) {
        let partial = self.queue.len() % self.frame_samples;
        if partial != 0 {
            let padded = self.queue.len() + self.frame_samples - partial;
            self.queue.resize(padded, 0);
        }
    }

    fn take_played(&mut self) -> Vec<MarkId> {
        let ready = self
            .marks
            .iter()
            .take_while(|&&(position, _)| position <= self.sent)
            .count();
        self.marks.drain(..ready).map(|(_, mark)| mark).collect()
    }
}

#[cfg(test)]
mod tests;

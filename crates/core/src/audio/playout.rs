//! The receive-side playout (jitter) buffer: packets in network order, frames out in sequence
//! order at one per tick, with gaps turned into explicit losses for the decoder to conceal.
//!
//! Generic over the payload (Opus packets, decoded frames, ...); it knows RTP sequence numbers
//! (16 bits, wrapping) but no timestamps, clocks, codecs or sockets. The shell calls
//! [`PlayoutBuffer::pop`] once per 20 ms and acts on the [`Playout`] it gets.
//!
//! Playout starts at the oldest frame once `target` frames are held, and then advances one
//! sequence number per pop, so a packet may arrive up to `target - 1` ticks after its place in
//! the stream and still play in order. A missing sequence number is waited for while the buffer
//! spans fewer than `target` (it to the newest received: the late packet may still come, and
//! there is time for it), and declared [`Playout::Lost`] once waiting longer would put more than
//! `target` frames behind it. When nothing at all is held the buffer underruns: it answers
//! [`Playout::Waiting`] and refills to `target` frames before playing again, skipping any
//! sequence numbers that never came.
//!
//! `capacity` bounds the span from the next frame to play to the newest received: a packet
//! further ahead drops the oldest frames (counted as overflowed) and moves playout up to it.

use std::collections::BTreeMap;

/// What to play for one tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout<T> {
    /// The next frame in sequence order.
    Frame(T),
    /// That sequence number never arrived and later ones did: conceal one frame.
    Lost,
    /// Nothing to play yet: the buffer is filling to its target depth (at the start, after an
    /// underrun, or while holding a gap open for a late packet).
    Waiting,
}

/// Counters over the life of a [`PlayoutBuffer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayoutStats {
    /// Packets that arrived after their slot had been played or concealed (dropped).
    pub late: u64,
    /// Packets received a second time, while held or after being played (dropped).
    pub duplicate: u64,
    /// Sequence numbers that never played: each [`Playout::Lost`], plus those skipped when
    /// playout restarted after an underrun or was pushed ahead by overflow.
    pub lost: u64,
    /// Frames dropped unplayed because a newer packet was more than `capacity` ahead of them.
    pub overflowed: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
}

/// How far back duplicates of played packets are told from late ones.
const HISTORY: u64 = u64::BITS as u64;
/// Where the first packet's extended sequence number lands, leaving room for reordered
/// packets before it.
const FIRST_EPOCH: u64 = 1 << 32;

/// A jitter buffer of payloads keyed by RTP sequence number.
#[derive(Clone, Debug)]
pub struct PlayoutBuffer<T> {
    target: u64,
    capacity: u64,
    /// Held payloads by extended (unwrapped) sequence number; every key is at least `next`.
    frames: BTreeMap<u64, T>,
    /// The next extended sequence number to play; `None` before the first packet is played.
    /// While refilling after an underrun it is the floor below which packets are late.
    next: Option<u64>,
    /// The newest extended sequence number received; `None` before the first packet.
    newest: Option<u64>,
    playing: bool,
    /// Bit `i` set: sequence number `next - 1 - i` was played from a received packet.
    played: u64,
    stats: PlayoutStats,
}

impl<T> PlayoutBuffer<T> {
    /// A buffer that starts playing at `target` frames of depth (e.g. 3 = 60 ms) and holds at
    /// most `capacity` (older ones are dropped). `target` is at least 1 and `capacity` at least
    /// `target`.
    pub fn new(target: usize, capacity: usize) -> Self {
        let target = target.max(1) as u64;
        Self {
            target,
            capacity: (capacity as u64).max(target),
            frames: BTreeMap::new(),
            next: None,
            newest: None,
            playing: false,
            played: 0,
            stats: PlayoutStats::default(),
        }
    }

    /// A packet with its 16-bit RTP sequence number (wraps). Duplicates and packets older than
    /// what was already played are dropped (and counted): returns whether it was kept.
    pub fn push(&mut self, seq: u16, payload: T) -> bool {
        let ext = self.extend(seq);
        if let Some(next) = self.next.filter(|&next| ext < next) {
            let age = next - 1 - ext;
            if age < HISTORY && self.played & (1 << age) != 0 {
                self.stats.duplicate += 1;
            } else {
                self.stats.late += 1;
            }
            return false;
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicate += 1;
            return false;
        }
        self.frames.insert(ext, payload);
        self.newest = Some(self.newest.map_or(ext, |newest| newest.max(ext)));
        self.enforce_capacity();
        self.frames.contains_key(&ext)
    }

    /// Called once per 20 ms tick: the next frame in sequence order, [`Playout::Lost`] when
    /// that sequence number never arrived but later ones did and the buffer is `target` deep,
    /// [`Playout::Waiting`] when empty or filling.
    pub fn pop(&mut self) -> Playout<T> {
        if !self.playing && !self.start() {
            return Playout::Waiting;
        }
        let Some(next) = self.next else {
            return Playout::Waiting;
        };
        if let Some(frame) = self.frames.remove(&next) {
            self.advance(1, true);
            return Playout::Frame(frame);
        }
        if self.frames.is_empty() {
            self.playing = false;
            self.stats.underruns += 1;
            return Playout::Waiting;
        }
        if self.depth_from(next) >= self.target {
            self.advance(1, false);
            self.stats.lost += 1;
            return Playout::Lost;
        }
        Playout::Waiting
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Counters: late, duplicate, lost, overflowed, underruns.
    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }

    /// Unwraps `seq` to the extended sequence number nearest the newest one received.
    fn extend(&self, seq: u16) -> u64 {
        match self.newest {
            None => FIRST_EPOCH + u64::from(seq),
            Some(newest) => {
                let delta = i64::from(seq.wrapping_sub(newest as u16) as i16);
                newest.saturating_add_signed(delta)
            }
        }
    }

    /// Sequence numbers from `from` to the newest received, inclusive.
    fn depth_from(&self, from: u64) -> u64 {
        self.newest
            .map_or(0, |newest| (newest + 1).saturating_sub(from))
    }

    /// Starts playout at the oldest held frame once `target` frames are held.
    fn start(&mut self) -> bool {
        if (self.frames.len() as u64) < self.target {
            return false;
        }
        let Some(&oldest) = self.frames.keys().next() else {
            return false;
        };
        if let Some(floor) = self.next {
            self.stats.lost += oldest - floor;
            self.advance(oldest - floor, false);
        }
        self.next = Some(oldest);
        self.playing = true;
        true
    }

    /// Moves the play cursor on by `slots`, the last of which was played (or not).
    fn advance(&mut self, slots: u64, played: bool) {
        if slots == 0 {
            return;
        }
        self.played = if slots >= HISTORY {
            0
        } else {
            self.played << slots
        };
        self.played |= u64::from(played);
        self.next = self.next.map(|next| next + slots);
    }

    /// Drops what lies more than `capacity` behind the newest packet, moving the cursor up.
    fn enforce_capacity(&mut self) {
        let Some(bound) = self
            .newest
            .and_then(|newest| (newest + 1).checked_sub(self.capacity))
        else {
            return;
        };
        let kept = self.frames.split_off(&bound);
        let dropped = std::mem::replace(&mut self.frames, kept).len() as u64;
        self.stats.overflowed += dropped;
        if let Some(next) = self.next.filter(|&next| next < bound) {
            self.stats.lost += (bound - next) - dropped;
            self.advance(bound - next, false);
        }
    }
}

#[cfg(test)]
mod tests;

//! Reorders media frames by sequence number. Telnyx does not guarantee frame order; Twilio's is
//! already ordered and passes straight through.
//!
//! Frames ahead of the next expected number wait in a small window. When the window is full, the
//! missing frame is presumed lost and skipped, so one lost frame costs at most the window's
//! latency and never stalls the call.

use std::collections::BTreeMap;

/// Frames held back at most (at 20 ms each: 100 ms of latency at worst).
const WINDOW: usize = 5;

/// A reorder buffer for payloads numbered by the sender.
#[derive(Debug, Default)]
pub(super) struct Reorder {
    next: Option<u64>,
    held: BTreeMap<u64, Vec<u8>>,
}

impl Reorder {
    /// Accepts frame `seq` and returns the payloads now deliverable, in order. Duplicates and
    /// frames older than what was delivered are dropped.
    pub(super) fn push(&mut self, seq: u64, payload: Vec<u8>) -> Vec<Vec<u8>> {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            return Vec::new();
        }
        self.held.insert(seq, payload);
        let mut ready = Vec::new();
        loop {
            let expected = self.next.unwrap_or(seq);
            if let Some(payload) = self.held.remove(&expected) {
                ready.push(payload);
                self.next = Some(expected + 1);
            } else if self.held.len() > WINDOW {
                // Give up on the gap: continue from the oldest frame held.
                self.next = self.held.keys().next().copied();
            } else {
                return ready;
            }
        }
    }
}

impl Reorder {
    /// Everything still held, in order (the stream is ending: late beats lost).
    pub(super) fn flush(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.held).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(seqs: &[u64]) -> Vec<u8> {
        let mut reorder = Reorder::default();
        seqs.iter()
            .flat_map(|seq| reorder.push(*seq, vec![u8::try_from(*seq).unwrap_or(0)]))
            .flatten()
            .collect()
    }

    #[test]
    fn in_order_frames_pass_straight_through() {
        assert_eq!(order(&[1, 2, 3, 4]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn swapped_frames_come_out_in_order() {
        assert_eq!(order(&[1, 3, 2, 5, 4, 6]), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn duplicates_and_late_frames_are_dropped() {
        assert_eq!(order(&[1, 2, 2, 3, 1]), vec![1, 2, 3]);
    }

    #[test]
    fn held_frames_are_flushed_in_order_at_the_end() {
        let mut reorder = Reorder::default();
        assert_eq!(reorder.push(1, vec![1]), vec![vec![1]]);
        assert!(reorder.push(4, vec![4]).is_empty());
        assert!(reorder.push(3, vec![3]).is_empty());
        assert_eq!(reorder.flush(), vec![vec![3], vec![4]]);
    }

    #[test]
    fn a_lost_frame_is_skipped_once_the_window_is_full() {
        let got = order(&[1, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(got, vec![1, 3, 4, 5, 6, 7, 8, 9]);
    }
}

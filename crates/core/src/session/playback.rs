//! The playback ledger: which assistant audio was sent to the caller, and how much of it the
//! caller has actually heard, from the marks the transport reports back.
//!
//! Providers send audio faster than real time and telephony carriers buffer it, so "sent" runs
//! ahead of "played". Barge-in truncation needs "played", to the millisecond. After a clear, the
//! marks still pending are forgotten: a carrier may echo them back at once, and those echoes must
//! not count as played audio.

use super::event::MarkId;
use std::collections::VecDeque;

/// One assistant item's audio on its way to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ItemPlayback {
    /// Provider's item id.
    pub(super) item_id: String,
    /// Transcript so far.
    pub(super) text: String,
    /// Milliseconds of audio sent to the client.
    pub(super) sent_ms: u64,
    /// Milliseconds the client confirmed as played.
    pub(super) played_ms: u64,
    /// The provider finished this item (no more audio will come).
    pub(super) complete: bool,
}

impl ItemPlayback {
    fn fully_played(&self) -> bool {
        self.complete && self.played_ms >= self.sent_ms
    }
}

/// Items in the order they were spoken, and the marks that will confirm their playback.
#[derive(Debug, Default)]
pub(super) struct Playback {
    items: VecDeque<ItemPlayback>,
    /// (mark, item id, item's sent milliseconds at the mark)
    pending: VecDeque<(MarkId, String, u64)>,
    next_mark: MarkId,
}

impl Playback {
    /// The item with this id, created (at the back) if new.
    fn item_mut(&mut self, item_id: &str) -> &mut ItemPlayback {
        let index = match self.items.iter().position(|item| item.item_id == item_id) {
            Some(index) => index,
            None => {
                self.items.push_back(ItemPlayback {
                    item_id: item_id.to_owned(),
                    text: String::new(),
                    sent_ms: 0,
                    played_ms: 0,
                    complete: false,
                });
                self.items.len() - 1
            }
        };
        &mut self.items[index]
    }

    /// Records `ms` of audio sent for `item_id`; returns the mark to send after it.
    pub(super) fn sent(&mut self, item_id: &str, ms: u64) -> MarkId {
        let item = self.item_mut(item_id);
        item.sent_ms += ms;
        let at = item.sent_ms;
        self.next_mark += 1;
        self.pending
            .push_back((self.next_mark, item_id.to_owned(), at));
        self.next_mark
    }

    /// Appends transcript text to an item.
    pub(super) fn transcript(&mut self, item_id: &str, delta: &str) {
        self.item_mut(item_id).text.push_str(delta);
    }

    /// Marks every item as complete: the response that produced them is done.
    /// No more audio will come for `item_id`.
    pub(super) fn complete(&mut self, item_id: &str) {
        self.item_mut(item_id).complete = true;
    }

    pub(super) fn complete_all(&mut self) {
        for item in &mut self.items {
            item.complete = true;
        }
    }

    /// Applies a played mark (and every earlier one). Unknown marks are ignored.
    pub(super) fn played(&mut self, mark: MarkId) {
        if !self.pending.iter().any(|(id, _, _)| *id == mark) {
            return;
        }
        while let Some((id, item_id, at)) = self.pending.pop_front() {
            if let Some(item) = self.items.iter_mut().find(|item| item.item_id == item_id) {
                item.played_ms = item.played_ms.max(at);
            }
            if id == mark {
                break;
            }
        }
    }

    /// Removes and returns the leading items that are complete and fully played.
    pub(super) fn take_finished(&mut self) -> Vec<ItemPlayback> {
        let mut finished = Vec::new();
        while self.items.front().is_some_and(ItemPlayback::fully_played) {
            finished.extend(self.items.pop_front());
        }
        finished
    }

    /// True while some sent audio has not been confirmed as played.
    pub(super) fn is_playing(&self) -> bool {
        self.items.iter().any(|item| item.played_ms < item.sent_ms)
    }

    /// Barge-in or end: forgets pending marks and returns every item with what was played.
    pub(super) fn interrupt(&mut self) -> Vec<ItemPlayback> {
        self.pending.clear();
        self.items.drain(..).collect()
    }
}

/// The part of `text` that was heard, given `played_ms` of `total_ms`, cut at a word boundary.
pub(super) fn played_text(text: &str, played_ms: u64, total_ms: u64) -> String {
    if total_ms == 0 || played_ms >= total_ms {
        return text.to_owned();
    }
    let chars = text.chars().count() as u64;
    let keep = usize::try_from(chars * played_ms / total_ms).unwrap_or(usize::MAX);
    let cut: String = text.chars().take(keep).collect();
    match cut.rfind(char::is_whitespace) {
        Some(end) if keep < text.chars().count() => cut[..end].trim_end().to_owned(),
        _ => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_confirm_playback_in_order_and_unknown_marks_are_ignored() {
        let mut playback = Playback::default();
        let first = playback.sent("item_1", 100);
        let second = playback.sent("item_1", 100);
        playback.played(999);
        assert!(playback.is_playing());
        playback.played(second);
        assert!(
            !playback.is_playing(),
            "a later mark confirms the earlier ones"
        );
        playback.played(first);
        playback.complete_all();
        let finished = playback.take_finished();
        assert_eq!(finished.len(), 1);
        assert_eq!((finished[0].sent_ms, finished[0].played_ms), (200, 200));
    }

    #[test]
    fn marks_echoed_after_an_interrupt_do_not_count() {
        let mut playback = Playback::default();
        let first = playback.sent("item_1", 200);
        let second = playback.sent("item_1", 200);
        playback.played(first);
        let items = playback.interrupt();
        assert_eq!(items[0].played_ms, 200);
        playback.played(second);
        assert!(!playback.is_playing());
        assert!(playback.take_finished().is_empty());
    }

    #[test]
    fn played_text_is_cut_in_proportion_at_a_word_boundary() {
        let text = "The clinic opens at nine and closes at five.";
        assert_eq!(played_text(text, 1000, 1000), text);
        assert_eq!(played_text(text, 500, 1000), "The clinic opens at");
        assert_eq!(played_text(text, 0, 1000), "");
        assert_eq!(played_text("", 10, 1000), "");
    }
}

//! The items of one simulated conversation, in order: for `previous_item_id`, `retrieve`,
//! `delete`, and the audio length that `conversation.item.truncate` is checked against.

use serde_json::Value;

#[derive(Debug)]
struct Entry {
    item: Value,
    /// Assistant audio sent so far, in ms (`None` for items without output audio).
    audio_ms: Option<u64>,
}

impl Entry {
    fn id(&self) -> Option<&str> {
        self.item.get("id").and_then(Value::as_str)
    }
}

/// The conversation of one session.
#[derive(Debug, Default)]
pub(super) struct Conversation {
    items: Vec<Entry>,
}

impl Conversation {
    /// The id of the last item.
    pub(super) fn last_id(&self) -> Option<String> {
        self.items.last().and_then(Entry::id).map(str::to_owned)
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.items.iter().position(|entry| entry.id() == Some(id))
    }

    /// True when an item has this id.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    /// Appends an item; returns the id of the item before it.
    pub(super) fn push(&mut self, item: Value, audio_ms: Option<u64>) -> Option<String> {
        let previous = self.last_id();
        self.items.push(Entry { item, audio_ms });
        previous
    }

    /// Replaces an item (same id) with its newer state; returns the id of the item before it.
    pub(super) fn replace(&mut self, item: Value) -> Option<String> {
        let id = item.get("id").and_then(Value::as_str)?;
        let index = self.position(id)?;
        let previous = index
            .checked_sub(1)
            .and_then(|i| self.items[i].id())
            .map(str::to_owned);
        self.items[index].item = item;
        previous
    }

    /// Records how much audio an assistant item has.
    pub(super) fn set_audio_ms(&mut self, id: &str, ms: u64) {
        if let Some(index) = self.position(id) {
            self.items[index].audio_ms = Some(ms);
        }
    }

    /// An item and its audio length.
    pub(super) fn get(&self, id: &str) -> Option<(&Value, Option<u64>)> {
        let entry = &self.items[self.position(id)?];
        Some((&entry.item, entry.audio_ms))
    }

    /// Removes an item; false when there is none with this id.
    pub(super) fn remove(&mut self, id: &str) -> bool {
        match self.position(id) {
            Some(index) => {
                self.items.remove(index);
                true
            }
            None => false,
        }
    }
}

//! Caller key presses (DTMF) told to the model: the model hears no tones, so digits become a user
//! item in words, `[The caller pressed 1 2 3 #]`, followed by a response.
//!
//! A burst is debounced into one item: digits are collected until [`DIGIT_GAP`] passes without a
//! new one, or `#` is pressed (the usual "end of entry" key), or [`MAX_DIGITS`] are held. The item
//! is added to the conversation at once (realtime and pipeline both take a user item mid-call) and
//! persisted like a spoken turn; the response is asked for once no response is in progress.

use super::{ClientCommand, Output, PersistCommand, ProviderCommand, Role, Session};
use std::time::{Duration, Instant};

/// Quiet time after the last digit that ends a burst.
pub(super) const DIGIT_GAP: Duration = Duration::from_millis(1500);
/// Most digits in one item.
const MAX_DIGITS: usize = 32;

/// Digits on their way to the model.
#[derive(Debug, Default)]
pub(super) struct Digits {
    pending: String,
    flush_at: Option<Instant>,
    /// An item was added; a response to it is still to be asked for.
    respond: bool,
}

impl Session {
    /// The caller pressed a key.
    pub(super) fn digit_pressed(&mut self, now: Instant, digit: char) {
        self.digits.pending.push(digit);
        if digit == '#' || self.digits.pending.chars().count() >= MAX_DIGITS {
            self.flush_digits();
        } else {
            self.digits.flush_at = Some(now + DIGIT_GAP);
        }
    }

    /// When the burst being collected ends.
    pub(super) fn digits_deadline(&self) -> Option<Instant> {
        self.digits.flush_at
    }

    /// Ends the burst if its quiet time has passed.
    pub(super) fn digits_due(&mut self, now: Instant) {
        if self.digits.flush_at.is_some_and(|at| now >= at) {
            self.flush_digits();
        }
    }

    /// Asks for the response to digits once nothing else is being answered.
    pub(super) fn respond_to_digits(&mut self) {
        if self.digits.respond && self.response.is_none() && self.switching.is_none() {
            self.digits.respond = false;
            self.send_provider(ProviderCommand::CreateResponse { instructions: None });
        }
    }

    /// Another response is being asked for; it answers the digits too.
    pub(super) fn digits_answered(&mut self) {
        self.digits.respond = false;
    }

    fn flush_digits(&mut self) {
        self.digits.flush_at = None;
        if self.digits.pending.is_empty() {
            return;
        }
        let keys: Vec<String> = self.digits.pending.chars().map(String::from).collect();
        self.digits.pending.clear();
        let text = format!("[The caller pressed {}]", keys.join(" "));
        self.send_client(ClientCommand::Transcript {
            role: Role::User,
            text: text.clone(),
            is_final: true,
        });
        let seq = self.take_seq();
        self.history.push((seq, Role::User, text.clone()));
        self.outputs
            .push_back(Output::Persist(PersistCommand::Item {
                seq,
                role: Role::User,
                text: text.clone(),
                played_ms: None,
            }));
        // During a switch the new path is seeded from the history, which now holds the item.
        if self.switching.is_none() {
            self.send_provider(ProviderCommand::SeedItem {
                role: Role::User,
                text,
            });
        }
        self.digits.respond = true;
        self.respond_to_digits();
    }
}

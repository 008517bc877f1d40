//! Time in the UAS: the next deadline, and what happens when one passes (resends, giving up
//! on an ACK, dropping finished transactions).

use super::{CallRef, EndCause, Event, Uas, dialog::DialogState, transaction::ClientKind};
use std::time::Instant;

impl Uas {
    /// The earliest deadline, if anything waits on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let server = self.server.values().flat_map(|tx| {
            [tx.resend.map(|b| b.next.min(b.until)), tx.expires]
                .into_iter()
                .flatten()
        });
        let client = self
            .client
            .values()
            .map(|tx| tx.backoff.next.min(tx.backoff.until));
        server.chain(client).min()
    }

    /// Does everything due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.server_timers(now);
        self.client_timers(now);
    }

    fn server_timers(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut no_ack: Vec<CallRef> = Vec::new();
        self.server.retain(|key, tx| {
            if let Some(backoff) = &mut tx.resend {
                if now >= backoff.until {
                    tx.resend = None;
                    if tx.success
                        && let Some(call) = tx.call
                    {
                        no_ack.push(call);
                    }
                } else if now >= backoff.next {
                    backoff.advance(now);
                    if let Some(bytes) = &tx.response {
                        resend.push((key.source, bytes.clone()));
                    }
                }
            }
            tx.expires.is_none_or(|at| now < at) || tx.resend.is_some()
        });
        for (to, bytes) in resend {
            self.send_response(to, bytes);
        }
        for call in no_ack {
            let answered = self
                .dialogs
                .get(&call)
                .is_some_and(|d| d.state == DialogState::Answered);
            if answered {
                tracing::info!(call = call.0, "No ACK for the 200 OK; sending BYE.");
                // The endpoint hears of the end now, and again once the BYE is answered.
                self.event(Event::Ended {
                    call,
                    cause: EndCause::NoAck,
                });
                self.send_in_dialog(now, call, ClientKind::Bye, &[]);
            }
        }
    }

    fn client_timers(&mut self, now: Instant) {
        let mut done = Vec::new();
        let mut resend = Vec::new();
        for (branch, tx) in &mut self.client {
            if now >= tx.backoff.until {
                done.push(branch.clone());
            } else if now >= tx.backoff.next {
                tx.backoff.advance(now);
                resend.push((tx.to, tx.request.clone()));
            }
        }
        for (to, bytes) in resend {
            self.transmit(to, bytes);
        }
        for branch in done {
            if let Some(tx) = self.client.remove(&branch) {
                self.client_done(now, tx);
            }
        }
    }
}

//! Requests about an existing call: re-INVITE, ACK, CANCEL and the caller's BYE.

use super::{ALLOW, EndCause, Event, Uas, dialog::DialogState, transaction::TxKey};
use crate::transport::sip::message::Message;
use std::{net::SocketAddr, time::Instant};

impl Uas {
    pub(super) fn on_reinvite(&mut self, now: Instant, key: TxKey, request: Message) {
        let Some(call) = self.dialog_of(&request) else {
            return self.reply_stateless(key.source, &request, 481, &[]);
        };
        let Some(dialog) = self.dialogs.get(&call) else {
            return;
        };
        let (code, body) = match (&dialog.state, &dialog.answer) {
            (DialogState::Confirmed, Some(answer)) => {
                let same = request.body.is_empty()
                    || dialog
                        .reoffer
                        .as_ref()
                        .is_some_and(|check| check(&request.body));
                if same {
                    (200, answer.clone())
                } else {
                    (488, Vec::new())
                }
            }
            _ => (491, Vec::new()),
        };
        let extra = [("Contact", self.contact()), ("Allow", ALLOW.to_owned())];
        self.reply(
            now,
            key.clone(),
            &request,
            code,
            None,
            &extra,
            &body,
            Some(call),
        );
        if code == 200
            && let Some(dialog) = self.dialogs.get_mut(&call)
        {
            let cseq = request.cseq().map_or(0, |(number, _)| number);
            dialog.awaiting_ack = Some((key, cseq));
        }
    }

    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        request: &Message,
        branch: String,
        source: SocketAddr,
    ) {
        let key = TxKey {
            branch,
            method: "INVITE".to_owned(),
            source,
        };
        if let Some(tx) = self.server.get_mut(&key)
            && !tx.success
        {
            tx.resend = None;
            return;
        }
        let Some(call) = self.dialog_of(request) else {
            return;
        };
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        // A late retransmission of an earlier ACK must not acknowledge a newer 2xx.
        let cseq = request.cseq().map(|(number, _)| number);
        let Some((pending, _)) = dialog.awaiting_ack.take_if(|(_, n)| Some(*n) == cseq) else {
            return;
        };
        let answered = dialog.state == DialogState::Answered;
        if answered {
            dialog.state = DialogState::Confirmed;
        }
        if let Some(tx) = self.server.get_mut(&pending) {
            tx.resend = None;
        }
        if answered {
            self.after_ack(now, call);
        }
    }

    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        request: &Message,
        branch: String,
        source: SocketAddr,
    ) {
        let invite_key = TxKey {
            branch: branch.clone(),
            method: "INVITE".to_owned(),
            source,
        };
        let key = TxKey {
            branch,
            method: "CANCEL".to_owned(),
            source,
        };
        if let Some(tx) = self.server.get(&key) {
            if let Some(bytes) = tx.response.clone() {
                self.send_response(source, bytes);
            }
            return;
        }
        let Some(call) = self.server.get(&invite_key).and_then(|tx| tx.call) else {
            return self.reply_stateless(key.source, request, 481, &[]);
        };
        // The CANCEL's To is the INVITE's: it gets the tag the INVITE's responses carry.
        let tag = self.dialogs.get(&call).map(|d| d.local_tag.clone());
        self.reply(now, key, request, 200, tag.as_deref(), &[], &[], None);
        let proceeding = self
            .dialogs
            .get(&call)
            .is_some_and(|d| d.state == DialogState::Proceeding);
        if proceeding && let Some(dialog) = self.dialogs.remove(&call) {
            let tag = dialog.local_tag.clone();
            self.reply(
                now,
                invite_key,
                &dialog.invite,
                487,
                Some(&tag),
                &[],
                &[],
                Some(call),
            );
            self.event(Event::Ended {
                call,
                cause: EndCause::Cancelled,
            });
        }
    }

    pub(super) fn on_bye(&mut self, now: Instant, key: TxKey, request: &Message) {
        let Some(call) = self.dialog_of(request) else {
            return self.reply_stateless(key.source, request, 481, &[]);
        };
        self.reply(now, key, request, 200, None, &[], &[], Some(call));
        let proceeding = self
            .dialogs
            .get(&call)
            .is_some_and(|d| d.state == DialogState::Proceeding);
        if proceeding && let Some(dialog) = self.dialogs.remove(&call) {
            // An early dialog ended by the caller: the INVITE still needs its final response
            // (487, resent until the ACK), or its transaction would wait forever.
            self.reply(
                now,
                dialog.invite_tx.clone(),
                &dialog.invite,
                487,
                Some(&dialog.local_tag),
                &[],
                &[],
                Some(call),
            );
            self.client.retain(|_, tx| tx.call != call);
            self.event(Event::Ended {
                call,
                cause: EndCause::CallerBye,
            });
            return;
        }
        self.end(call, EndCause::CallerBye);
    }
}

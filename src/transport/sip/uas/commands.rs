//! What the endpoint tells the UAS to do with a call (ring, answer, refuse, hang up,
//! transfer), and the answers to the requests voxgate sends.

use super::{
    ALLOW, CallRef, EndCause, Uas,
    dialog::{DialogState, ReofferCheck},
    random_token,
    transaction::{Backoff, ClientKind, ClientTx},
};
use crate::transport::sip::message::Message;
use std::time::Instant;

impl Uas {
    /// Sends 180 Ringing for a call still proceeding.
    pub fn ring(&mut self, now: Instant, call: CallRef) {
        let Some(dialog) = self.dialogs.get(&call) else {
            return;
        };
        if dialog.state != DialogState::Proceeding {
            return;
        }
        let (key, invite, tag) = (
            dialog.invite_tx.clone(),
            dialog.invite.clone(),
            dialog.local_tag.clone(),
        );
        let extra = [("Contact", self.contact())];
        self.reply(now, key, &invite, 180, Some(&tag), &extra, &[], Some(call));
    }

    /// Answers with 200 OK and the SDP answer, resent until the ACK.
    pub fn accept(&mut self, now: Instant, call: CallRef, answer: Vec<u8>, reoffer: ReofferCheck) {
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        if dialog.state != DialogState::Proceeding {
            return;
        }
        dialog.state = DialogState::Answered;
        let cseq = dialog.invite.cseq().map_or(0, |(number, _)| number);
        dialog.awaiting_ack = Some((dialog.invite_tx.clone(), cseq));
        dialog.answer = Some(answer.clone());
        dialog.reoffer = Some(reoffer);
        let (key, invite, tag) = (
            dialog.invite_tx.clone(),
            dialog.invite.clone(),
            dialog.local_tag.clone(),
        );
        let extra = [("Contact", self.contact()), ("Allow", ALLOW.to_owned())];
        self.reply(
            now,
            key,
            &invite,
            200,
            Some(&tag),
            &extra,
            &answer,
            Some(call),
        );
    }

    /// Refuses a call still proceeding with a final `code` (4xx-6xx) and extra headers
    /// (`Retry-After`); the response is resent until the ACK.
    pub fn reject(&mut self, now: Instant, call: CallRef, code: u16, extra: &[(&str, String)]) {
        let proceeding = self
            .dialogs
            .get(&call)
            .is_some_and(|d| d.state == DialogState::Proceeding);
        if !proceeding {
            return;
        }
        let Some(dialog) = self.dialogs.remove(&call) else {
            return;
        };
        let tag = dialog.local_tag.clone();
        self.reply(
            now,
            dialog.invite_tx.clone(),
            &dialog.invite,
            code,
            Some(&tag),
            extra,
            &[],
            None,
        );
        self.event(super::Event::Ended {
            call,
            cause: EndCause::HungUp,
        });
    }

    /// Ends the call from voxgate's side: BYE once confirmed, 480 while still ringing. Between
    /// the 200 OK and its ACK the BYE waits for the ACK (RFC 3261 §15), or for the 200's
    /// retransmissions to time out.
    pub fn hangup(&mut self, now: Instant, call: CallRef) {
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        match dialog.state {
            DialogState::Proceeding => self.reject(now, call, 480, &[]),
            DialogState::Answered => dialog.bye_pending = true,
            DialogState::Confirmed => self.send_in_dialog(now, call, ClientKind::Bye, &[]),
            DialogState::Ending => {}
        }
    }

    /// Transfers the caller to `target` with REFER; BYE follows its answer (or its timeout).
    /// Between the 200 OK and its ACK the REFER waits for the ACK; before the answer it just
    /// hangs up.
    pub fn refer(&mut self, now: Instant, call: CallRef, target: &str) {
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        match dialog.state {
            DialogState::Confirmed => {
                let refer_to = format!("<{}>", target.trim_matches(['<', '>']));
                let extra = [("Refer-To", refer_to), ("Contact", self.contact())];
                self.send_in_dialog(now, call, ClientKind::Refer, &extra);
            }
            DialogState::Answered => dialog.refer_pending = Some(target.to_owned()),
            DialogState::Proceeding | DialogState::Ending => self.hangup(now, call),
        }
    }

    /// What voxgate asked for before the ACK, now that it came.
    pub(super) fn after_ack(&mut self, now: Instant, call: CallRef) {
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        let (refer, bye) = (dialog.refer_pending.take(), dialog.bye_pending);
        match refer {
            Some(target) => self.refer(now, call, &target),
            None if bye => self.hangup(now, call),
            None => {}
        }
    }

    pub(super) fn send_in_dialog(
        &mut self,
        now: Instant,
        call: CallRef,
        kind: ClientKind,
        extra: &[(&str, String)],
    ) {
        let branch = format!("z9hG4bK{}", random_token());
        let host = self.settings.contact_host.clone();
        let Some(dialog) = self.dialogs.get_mut(&call) else {
            return;
        };
        let method = match kind {
            ClientKind::Bye => "BYE",
            ClientKind::Refer => "REFER",
        };
        let request = dialog.request(method, &host, &branch, extra);
        dialog.state = DialogState::Ending;
        let pending = dialog.awaiting_ack.take().map(|(key, _)| key);
        let to = dialog.peer;
        if let Some(tx) = pending.and_then(|key| self.server.get_mut(&key)) {
            tx.resend = None;
        }
        self.transmit(to, request.clone());
        self.client.insert(
            branch,
            ClientTx {
                call,
                kind,
                request,
                to,
                backoff: Backoff::start(now),
            },
        );
    }

    /// A response to a request voxgate sent.
    pub(super) fn on_response(&mut self, now: Instant, response: &Message, code: u16) {
        let Some(branch) = response.branch() else {
            return;
        };
        if code < 200 || !self.client.contains_key(branch) {
            return;
        }
        if let Some(tx) = self.client.remove(branch) {
            self.client_done(now, tx);
        }
    }

    /// A client transaction ended (answered or timed out): after REFER comes BYE; after BYE
    /// the call is over.
    pub(super) fn client_done(&mut self, now: Instant, tx: ClientTx) {
        match tx.kind {
            ClientKind::Refer => self.send_in_dialog(now, tx.call, ClientKind::Bye, &[]),
            ClientKind::Bye => self.end(tx.call, EndCause::HungUp),
        }
    }
}

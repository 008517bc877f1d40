//! The SIP user agent server, sans-IO: datagrams and commands in, datagrams and events out,
//! time as an argument (the quinn-proto / str0m pattern). Tested on virtual time without
//! sockets (`uas/tests.rs`).
//!
//! It answers what needs no outside knowledge by itself (OPTIONS, retransmissions, CANCEL,
//! BYE, re-INVITE, ACK matching, digest challenges, malformed requests) and hands each new,
//! authenticated INVITE up as an [`Event::Invite`]; the endpoint then routes it and answers
//! with [`Uas::ring`], [`Uas::accept`] or [`Uas::reject`]. It never logs numbers.

mod dialog;
mod transaction;

pub use dialog::ReofferCheck;

use super::{
    digest::{DigestAuth, Verdict},
    message::{Message, NameAddr, StartLine, uri_user},
};
use crate::telemetry;
use dialog::Dialog;
use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    time::Instant,
};
use transaction::{Backoff, ClientTx, ServerTx, TX_LIFETIME, TxKey};

/// Most server transactions kept; beyond it new INVITEs get a stateless 503 and other
/// responses are sent without being remembered.
const MAX_SERVER_TX: usize = 20_000;

/// Methods voxgate answers, for `Allow`.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, INFO";

/// One call, as the endpoint and the UAS name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallRef(pub u64);

/// Something for the endpoint to do.
#[derive(Debug)]
pub enum Output {
    /// Send these bytes.
    Transmit {
        /// Where.
        to: SocketAddr,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Tell the endpoint.
    Event(Event),
}

/// What happened to a call.
#[derive(Debug)]
pub enum Event {
    /// A new call waits to be routed and answered.
    Invite(Invite),
    /// The call is over for the signalling; stop its media.
    Ended {
        /// The call.
        call: CallRef,
        /// Why.
        cause: EndCause,
    },
}

/// A new INVITE, authenticated, 100 Trying already sent.
#[derive(Debug)]
pub struct Invite {
    /// The call.
    pub call: CallRef,
    /// The called number: the Request-URI's user, else the To URI's (personal data).
    pub called: Option<String>,
    /// The caller's number: the From URI's user (personal data).
    pub caller: Option<String>,
    /// The SDP offer.
    pub offer: Vec<u8>,
    /// Where the INVITE came from.
    pub source: SocketAddr,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// The caller sent BYE.
    CallerBye,
    /// The caller cancelled before the answer.
    Cancelled,
    /// No ACK came for the 200 OK; voxgate sent BYE.
    NoAck,
    /// voxgate's BYE was answered (or timed out), or the call was refused.
    HungUp,
}

/// What the UAS needs to know about itself.
#[derive(Debug)]
pub struct Settings {
    /// `host:port` for Via and Contact in what voxgate sends.
    pub contact_host: String,
    /// Digest authentication of INVITEs, when configured.
    pub auth: Option<DigestAuth>,
}

/// The UAS state: transactions and dialogs.
#[derive(Debug)]
pub struct Uas {
    settings: Settings,
    epoch: Instant,
    next_call: u64,
    server: HashMap<TxKey, ServerTx>,
    client: HashMap<String, ClientTx>,
    dialogs: HashMap<CallRef, Dialog>,
    out: VecDeque<Output>,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

fn method_label(method: &str) -> &'static str {
    match method {
        "INVITE" => "INVITE",
        "ACK" => "ACK",
        "BYE" => "BYE",
        "CANCEL" => "CANCEL",
        "OPTIONS" => "OPTIONS",
        "REGISTER" => "REGISTER",
        "NOTIFY" => "NOTIFY",
        "INFO" => "INFO",
        "REFER" => "REFER",
        _ => "other",
    }
}

impl Uas {
    /// A UAS with no calls; `now` starts its nonce clock.
    pub fn new(settings: Settings, now: Instant) -> Self {
        Self {
            settings,
            epoch: now,
            next_call: 1,
            server: HashMap::new(),
            client: HashMap::new(),
            dialogs: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Calls with a dialog (ringing, up or ending).
    pub fn calls(&self) -> usize {
        self.dialogs.len()
    }

    fn transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Output::Transmit { to, bytes });
    }

    fn event(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    /// Handles one datagram from `source` (already allowed by the endpoint's source filter).
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        let Ok(message) = Message::parse(bytes) else {
            telemetry::record_sip_dropped("unparsable");
            return;
        };
        match &message.start {
            StartLine::Response { code } => {
                let code = *code;
                self.on_response(now, &message, code);
            }
            StartLine::Request { method, .. } => {
                let method = method.clone();
                telemetry::record_sip_request(method_label(&method));
                if message.check_request().is_err() {
                    if message.answerable() && method != "ACK" {
                        let bytes = response(&message, 400, None, &[], &[]);
                        self.send_response(source, bytes);
                    } else {
                        telemetry::record_sip_dropped("malformed");
                    }
                    return;
                }
                self.on_request(now, source, message, &method);
            }
        }
    }

    fn send_response(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if let Some(code) = bytes.get(8..11).and_then(|c| std::str::from_utf8(c).ok()) {
            telemetry::record_sip_response(code);
        }
        self.transmit(to, bytes);
    }

    fn on_request(&mut self, now: Instant, source: SocketAddr, request: Message, method: &str) {
        let branch = request.branch().unwrap_or_default().to_owned();
        if method == "ACK" {
            return self.on_ack(now, &request, branch, source);
        }
        if method == "CANCEL" {
            return self.on_cancel(now, &request, branch, source);
        }
        let key = TxKey {
            branch,
            method: method.to_owned(),
            source,
        };
        if let Some(tx) = self.server.get(&key) {
            if let Some(bytes) = tx.response.clone() {
                self.send_response(source, bytes);
            }
            return;
        }
        if method == "INVITE" && self.server.len() >= MAX_SERVER_TX {
            telemetry::record_sip_dropped("transactions_full");
            let extra = [("Retry-After", "5".to_owned())];
            return self.reply_stateless(source, &request, 503, &extra);
        }
        let in_dialog = request
            .header("To")
            .and_then(NameAddr::parse)
            .and_then(|to| to.tag())
            .is_some();
        match method {
            "INVITE" if in_dialog => self.on_reinvite(now, key, request),
            "INVITE" => self.on_invite(now, key, request),
            "BYE" => self.on_bye(now, key, &request),
            "OPTIONS" => {
                let extra = [
                    ("Allow", ALLOW.to_owned()),
                    ("Accept", "application/sdp".into()),
                ];
                self.reply_stateless(source, &request, 200, &extra);
            }
            "NOTIFY" | "INFO" if self.dialog_of(&request).is_some() => {
                self.reply(now, key, &request, 200, None, &[], &[], None);
            }
            "NOTIFY" | "INFO" => self.reply_stateless(source, &request, 481, &[]),
            _ => {
                let extra = [("Allow", ALLOW.to_owned())];
                self.reply_stateless(source, &request, 405, &extra);
            }
        }
    }

    fn dialog_of(&self, request: &Message) -> Option<CallRef> {
        self.dialogs
            .iter()
            .find(|(_, dialog)| dialog.matches(request))
            .map(|(call, _)| *call)
    }

    /// Answers without a transaction (OPTIONS, 401, 405, 481, 503): nothing is kept, and a
    /// retransmitted request just gets a fresh response. Keeps floods of unique branches from
    /// growing the transaction map.
    pub(super) fn reply_stateless(
        &mut self,
        source: SocketAddr,
        request: &Message,
        code: u16,
        extra: &[(&str, String)],
    ) {
        let bytes = response(request, code, None, extra, &[]);
        self.send_response(source, bytes);
    }

    /// Sends a response and remembers it in the server transaction `key` (unless the map is
    /// full). Final responses to INVITE are resent until the ACK.
    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        now: Instant,
        key: TxKey,
        request: &Message,
        code: u16,
        tag: Option<&str>,
        extra: &[(&str, String)],
        body: &[u8],
        call: Option<CallRef>,
    ) {
        let bytes = response(request, code, tag, extra, body);
        self.send_response(key.source, bytes.clone());
        if self.server.len() >= MAX_SERVER_TX && !self.server.contains_key(&key) {
            return;
        }
        let invite = key.method == "INVITE";
        let final_response = code >= 200;
        let tx = self.server.entry(key).or_insert(ServerTx {
            response: None,
            call,
            resend: None,
            success: false,
            expires: None,
        });
        tx.response = Some(bytes);
        if final_response {
            tx.expires = Some(now + TX_LIFETIME);
            tx.success = (200..300).contains(&code);
            tx.resend = invite.then(|| Backoff::start(now));
        } else if !invite {
            tx.expires = Some(now + TX_LIFETIME);
        }
    }

    fn on_invite(&mut self, now: Instant, key: TxKey, request: Message) {
        if let Some(auth) = &self.settings.auth {
            let authorization = request
                .header("Authorization")
                .or_else(|| request.header("Proxy-Authorization"));
            let since = now.saturating_duration_since(self.epoch);
            let uri = match &request.start {
                StartLine::Request { uri, .. } => uri.as_str(),
                StartLine::Response { .. } => "",
            };
            let client = key.source.ip();
            match auth.verify(authorization, ("INVITE", uri), client, since) {
                Verdict::Valid => {}
                verdict => {
                    let challenge = auth.challenge(since, verdict == Verdict::Stale, client);
                    // Challenged statelessly (RFC 3261 §26.3.2.4): no state for unauthenticated
                    // floods.
                    let extra = [("WWW-Authenticate", challenge)];
                    return self.reply_stateless(key.source, &request, 401, &extra);
                }
            }
        }
        let call_id = request.header("Call-ID").unwrap_or_default();
        if self.dialogs.values().any(|d| d.call_id == call_id) {
            return self.reply(now, key, &request, 482, None, &[], &[], None);
        }
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let called = match &request.start {
            StartLine::Request { uri, .. } => uri_user(uri),
            StartLine::Response { .. } => None,
        }
        .or_else(|| {
            request
                .header("To")
                .and_then(NameAddr::parse)
                .and_then(|to| uri_user(to.uri))
        })
        .map(str::to_owned);
        let caller = request
            .header("From")
            .and_then(NameAddr::parse)
            .and_then(|from| uri_user(from.uri))
            .map(str::to_owned);
        let source = key.source;
        self.reply(now, key.clone(), &request, 100, None, &[], &[], Some(call));
        let offer = request.body.clone();
        self.dialogs
            .insert(call, Dialog::new(request, key, random_token()));
        self.event(Event::Invite(Invite {
            call,
            called,
            caller,
            offer,
            source,
        }));
    }

    /// Forgets a dialog and its pending requests; reports the end.
    fn end(&mut self, call: CallRef, cause: EndCause) {
        if let Some(dialog) = self.dialogs.remove(&call) {
            if let Some(tx) = self.server.get_mut(&dialog.invite_tx) {
                tx.resend = None;
            }
            self.client.retain(|_, tx| tx.call != call);
            self.event(Event::Ended { call, cause });
        }
    }

    fn contact(&self) -> String {
        format!("<sip:voxgate@{}>", self.settings.contact_host)
    }
}

mod commands;
mod in_dialog;
mod response;
mod timers;

use response::response;

#[cfg(test)]
mod tests;

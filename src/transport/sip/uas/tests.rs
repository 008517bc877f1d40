//! The UAS on virtual time, without sockets or media: each test is one SIP exchange.

use super::*;
use std::time::Duration;

const PEER: &str = "192.0.2.10:5060";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

struct Harness {
    uas: Uas,
    now: Instant,
    peer: SocketAddr,
}

fn request(
    method: &str,
    branch: &str,
    to_tag: Option<&str>,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:+15550100@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: \"Caller\" <sip:+15559876@192.0.2.10>;tag=caller1\r\n\
         To: <sip:+15550100@198.51.100.1>{to_tag}\r\nCall-ID: call-1@192.0.2.10\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:caller@192.0.2.10:5060>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn invite(branch: &str) -> Vec<u8> {
    request(
        "INVITE",
        branch,
        None,
        1,
        "Content-Type: application/sdp\r\n",
        OFFER,
    )
}

impl Harness {
    fn new(auth: Option<DigestAuth>) -> Self {
        let now = Instant::now();
        let settings = Settings {
            contact_host: "198.51.100.1:5060".into(),
            auth,
        };
        Self {
            uas: Uas::new(settings, now),
            now,
            peer: PEER.parse().expect("peer"),
        }
    }

    fn receive(&mut self, bytes: &[u8]) -> (Vec<String>, Vec<Event>) {
        self.uas.handle_datagram(self.now, self.peer, bytes);
        self.drain()
    }

    fn drain(&mut self) -> (Vec<String>, Vec<Event>) {
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        while let Some(output) = self.uas.poll_output() {
            match output {
                Output::Transmit { to, bytes } => {
                    assert_eq!(to, self.peer);
                    sent.push(String::from_utf8(bytes).expect("utf-8"));
                }
                Output::Event(event) => events.push(event),
            }
        }
        (sent, events)
    }

    /// Advances virtual time to `at` after start, running every timer on the way.
    fn advance(&mut self, by: Duration) -> (Vec<String>, Vec<Event>) {
        let until = self.now + by;
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        while let Some(deadline) = self.uas.poll_timeout().filter(|d| *d <= until) {
            self.now = deadline.max(self.now);
            self.uas.handle_timeout(self.now);
            let (s, e) = self.drain();
            sent.extend(s);
            events.extend(e);
        }
        self.now = until;
        (sent, events)
    }

    /// A new call up to the point where it waits for routing.
    fn incoming(&mut self) -> CallRef {
        let (sent, events) = self.receive(&invite("z9hG4bKinv1"));
        assert_eq!(status(&sent), [100]);
        match events.as_slice() {
            [Event::Invite(invite)] => {
                assert_eq!(invite.called.as_deref(), Some("+15550100"));
                assert_eq!(invite.caller.as_deref(), Some("+15559876"));
                assert_eq!(invite.offer, OFFER.as_bytes());
                invite.call
            }
            other => panic!("expected one invite, got {other:?}"),
        }
    }

    /// A call answered; returns it with our To tag.
    fn answered(&mut self) -> (CallRef, String) {
        let call = self.incoming();
        self.uas.ring(self.now, call);
        self.uas.accept(
            self.now,
            call,
            b"v=0 answer".to_vec(),
            Box::new(|offer| offer.starts_with(b"v=0")),
        );
        let (sent, _) = self.drain();
        assert_eq!(status(&sent), [180, 200]);
        assert!(sent[1].ends_with("v=0 answer"), "{}", sent[1]);
        (call, to_tag(&sent[1]))
    }
}

fn status(sent: &[String]) -> Vec<u16> {
    sent.iter()
        .map(|s| s.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0))
        .collect()
}

fn to_tag(response: &str) -> String {
    let message = Message::parse(response.as_bytes()).expect("parses");
    let to = message.header("To").and_then(NameAddr::parse).expect("To");
    to.tag().expect("tag").to_owned()
}

fn ended(events: &[Event]) -> Vec<EndCause> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ended { cause, .. } => Some(*cause),
            Event::Invite(_) => None,
        })
        .collect()
}

#[test]
fn an_answered_invite_resends_its_200_until_the_ack() {
    let mut h = Harness::new(None);
    let (_, tag) = h.answered();
    let (sent, _) = h.advance(Duration::from_millis(3600));
    assert_eq!(
        status(&sent),
        [200, 200, 200],
        "resent at 0.5, 1.5 and 3.5 s"
    );
    let (sent, events) = h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    assert!(sent.is_empty() && events.is_empty());
    let (sent, events) = h.advance(Duration::from_secs(60));
    assert!(sent.is_empty(), "no resend after the ACK: {sent:?}");
    assert!(events.is_empty());
}

#[test]
fn no_ack_within_64_t1_ends_the_call_with_a_bye() {
    let mut h = Harness::new(None);
    h.answered();
    let (sent, events) = h.advance(Duration::from_secs(33));
    let resent = status(&sent).iter().filter(|c| **c == 200).count();
    assert_eq!(
        resent, 10,
        "0.5, 1.5, 3.5, 7.5, then every 4 s to 31.5 s: {sent:?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.starts_with("BYE sip:caller@192.0.2.10:5060 SIP/2.0"))
    );
    assert_eq!(ended(&events), [EndCause::NoAck]);
}

#[test]
fn a_retransmitted_invite_gets_the_last_response_again_and_no_new_call() {
    let mut h = Harness::new(None);
    let call = h.incoming();
    h.uas.ring(h.now, call);
    h.drain();
    let (sent, events) = h.receive(&invite("z9hG4bKinv1"));
    assert_eq!(status(&sent), [180]);
    assert!(events.is_empty());
}

#[test]
fn cancel_before_the_answer_gets_200_and_the_invite_487() {
    let mut h = Harness::new(None);
    h.incoming();
    let (sent, events) = h.receive(&request("CANCEL", "z9hG4bKinv1", None, 1, "", ""));
    assert_eq!(status(&sent), [200, 487]);
    assert!(sent[0].contains("CSeq: 1 CANCEL") && sent[1].contains("CSeq: 1 INVITE"));
    assert_eq!(ended(&events), [EndCause::Cancelled]);
    let (sent, _) = h.advance(Duration::from_millis(600));
    assert_eq!(status(&sent), [487], "resent until the ACK");
    h.receive(&request("ACK", "z9hG4bKinv1", Some("x"), 1, "", ""));
    let (sent, _) = h.advance(Duration::from_secs(40));
    assert!(sent.is_empty());
    assert_eq!(h.uas.calls(), 0);
}

#[test]
fn a_cancel_for_no_invite_gets_481() {
    let mut h = Harness::new(None);
    let (sent, _) = h.receive(&request("CANCEL", "z9hG4bKnone", None, 1, "", ""));
    assert_eq!(status(&sent), [481]);
}

#[test]
fn the_callers_bye_ends_the_call_once_even_when_retransmitted() {
    let mut h = Harness::new(None);
    let (_, tag) = h.answered();
    h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    let bye = request("BYE", "z9hG4bKbye1", Some(&tag), 2, "", "");
    let (sent, events) = h.receive(&bye);
    assert_eq!(status(&sent), [200]);
    assert_eq!(ended(&events), [EndCause::CallerBye]);
    let (sent, events) = h.receive(&bye);
    assert_eq!(status(&sent), [200]);
    assert!(events.is_empty());
    let (sent, _) = h.receive(&request("BYE", "z9hG4bKbye2", Some("other"), 3, "", ""));
    assert_eq!(status(&sent), [481]);
}

#[test]
fn our_bye_is_resent_until_answered() {
    let mut h = Harness::new(None);
    let (call, tag) = h.answered();
    h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    h.uas.hangup(h.now, call);
    let (sent, _) = h.drain();
    assert_eq!(sent.len(), 1);
    let bye = &sent[0];
    assert!(
        bye.contains(&format!(";tag={tag}"))
            && bye.contains("To: \"Caller\" <sip:+15559876@192.0.2.10>;tag=caller1"),
        "{bye}"
    );
    let (sent, _) = h.advance(Duration::from_millis(1600));
    assert_eq!(sent.len(), 2, "resent at 0.5 and 1.5 s");
    let ok = caller_answers(bye, &tag, "200 OK", "1 BYE");
    let (_, events) = h.receive(ok.as_bytes());
    assert_eq!(ended(&events), [EndCause::HungUp]);
    let (sent, _) = h.advance(Duration::from_secs(40));
    assert!(sent.is_empty());
}

/// The caller's `status` response to a request voxgate sent in the dialog (`ours`), with our
/// `tag` and CSeq `cseq` (e.g. `1 BYE`).
fn caller_answers(ours: &str, tag: &str, status: &str, cseq: &str) -> String {
    let branch = Message::parse(ours.as_bytes())
        .expect("our request parses")
        .branch()
        .expect("our request has a branch")
        .to_owned();
    format!(
        "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch={branch}\r\nFrom: <sip:a@b>;tag={tag}\r\n\
         To: <sip:c@d>;tag=caller1\r\nCall-ID: call-1@192.0.2.10\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn refer_is_followed_by_bye_once_accepted() {
    let mut h = Harness::new(None);
    let (call, tag) = h.answered();
    h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    h.uas.refer(h.now, call, "sip:human@pbx.example");
    let (sent, _) = h.drain();
    assert!(sent[0].starts_with("REFER ") && sent[0].contains("Refer-To: <sip:human@pbx.example>"));
    let accepted = caller_answers(&sent[0], &tag, "202 Accepted", "1 REFER");
    let (sent, _) = h.receive(accepted.as_bytes());
    assert!(sent.len() == 1 && sent[0].starts_with("BYE ") && sent[0].contains("CSeq: 2 BYE"));
}

#[test]
fn options_get_200_and_unknown_methods_405() {
    let mut h = Harness::new(None);
    let (sent, _) = h.receive(&request("OPTIONS", "z9hG4bKo1", None, 1, "", ""));
    assert_eq!(status(&sent), [200]);
    assert!(sent[0].contains("Allow: INVITE"));
    let (sent, _) = h.receive(&request("REGISTER", "z9hG4bKr1", None, 1, "", ""));
    assert_eq!(status(&sent), [405]);
}

#[test]
fn malformed_requests_get_400_when_answerable_and_are_dropped_otherwise() {
    let mut h = Harness::new(None);
    let no_cseq = String::from_utf8(request("OPTIONS", "z9hG4bKo1", None, 1, "", ""))
        .expect("utf-8")
        .replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
    let (sent, _) = h.receive(no_cseq.as_bytes());
    assert_eq!(status(&sent), [400]);
    let (sent, events) = h.receive(b"\x00\x01garbage\r\n\r\n");
    assert!(sent.is_empty() && events.is_empty());
    let no_via = "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let (sent, _) = h.receive(no_via.as_bytes());
    assert!(sent.is_empty());
}

#[test]
fn a_reinvite_with_the_same_media_gets_the_same_answer_else_488() {
    let mut h = Harness::new(None);
    let (_, tag) = h.answered();
    h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    let (sent, _) = h.receive(&request("INVITE", "z9hG4bKre1", Some(&tag), 2, "", OFFER));
    assert_eq!(status(&sent), [200]);
    assert!(sent[0].ends_with("v=0 answer"));
    let (sent, _) = h.receive(&request(
        "INVITE",
        "z9hG4bKre2",
        Some(&tag),
        3,
        "",
        "m=video 1 RTP/AVP 96\r\n",
    ));
    assert_eq!(status(&sent), [488]);
}

#[test]
fn with_digest_auth_an_invite_is_challenged_then_accepted() {
    let mut h = review::with_auth();
    let (sent, events) = h.receive(&invite("z9hG4bKa1"));
    assert_eq!(status(&sent), [401]);
    assert!(events.is_empty());
    let again = review::authorized_invite(&sent[0], "sip:+15550100@198.51.100.1", "z9hG4bKa2");
    let (sent, events) = h.receive(&again);
    assert_eq!(status(&sent), [100]);
    assert!(matches!(events.as_slice(), [Event::Invite(_)]));
}

#[test]
fn a_rejected_call_gets_its_code_and_extra_headers() {
    let mut h = Harness::new(None);
    let call = h.incoming();
    h.uas
        .reject(h.now, call, 503, &[("Retry-After", "5".to_owned())]);
    let (sent, events) = h.drain();
    assert_eq!(status(&sent), [503]);
    assert!(sent[0].contains("Retry-After: 5"));
    assert_eq!(ended(&events), [EndCause::HungUp]);
}

mod review;

//! The UAS on virtual time: early-dialog ends, headers every response must carry, and the
//! order of BYE and ACK.

use super::*;

#[test]
fn the_callers_bye_on_an_early_dialog_gets_the_invite_a_487_and_frees_its_transaction() {
    let mut h = Harness::new(None);
    let call = h.incoming();
    h.uas.ring(h.now, call);
    let (sent, _) = h.drain();
    let tag = to_tag(&sent[0]);
    let (sent, events) = h.receive(&request("BYE", "z9hG4bKbye1", Some(&tag), 2, "", ""));
    assert_eq!(status(&sent), [200, 487]);
    assert!(sent[1].contains("CSeq: 1 INVITE"), "{}", sent[1]);
    assert_eq!(to_tag(&sent[1]), tag);
    assert_eq!(ended(&events), [EndCause::CallerBye]);
    let (sent, _) = h.advance(Duration::from_millis(600));
    assert_eq!(status(&sent), [487], "resent until the ACK");
    h.receive(&request("ACK", "z9hG4bKinv1", Some(&tag), 1, "", ""));
    h.advance(Duration::from_secs(40));
    assert_eq!(h.uas.calls(), 0);
    assert_eq!(h.uas.server.len(), 0, "every transaction expired");
    assert_eq!(h.uas.poll_timeout(), None);
}

#[test]
fn provisional_and_success_responses_to_an_invite_carry_its_record_route_set() {
    let mut h = Harness::new(None);
    let routes = "Record-Route: <sip:p1.example;lr>\r\nRecord-Route: <sip:p2.example;lr>\r\n";
    let invite = request(
        "INVITE",
        "z9hG4bKrr1",
        None,
        1,
        &format!("{routes}Content-Type: application/sdp\r\n"),
        OFFER,
    );
    let (sent, events) = h.receive(&invite);
    assert_eq!(status(&sent), [100]);
    assert!(!sent[0].contains("Record-Route"), "not on 100: {}", sent[0]);
    let Some(Event::Invite(invite)) = events.into_iter().next() else {
        panic!("no invite event");
    };
    h.uas.ring(h.now, invite.call);
    h.uas
        .accept(h.now, invite.call, b"v=0".to_vec(), Box::new(|_| true));
    let (sent, _) = h.drain();
    assert_eq!(status(&sent), [180, 200]);
    for response in &sent {
        let message = Message::parse(response.as_bytes()).expect("parses");
        let copied: Vec<&str> = message.headers_named("Record-Route").collect();
        assert_eq!(copied, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    }
    let (sent, _) = h.receive(&request("OPTIONS", "z9hG4bKo1", None, 1, routes, ""));
    assert!(!sent[0].contains("Record-Route"), "{}", sent[0]);
}

#[test]
fn every_final_response_to_a_request_without_a_to_tag_gets_one() {
    let mut h = Harness::new(None);
    let requests = [
        request("REGISTER", "z9hG4bKr1", None, 1, "", ""),
        request("CANCEL", "z9hG4bKnone", None, 1, "", ""),
        request("OPTIONS", "z9hG4bKo1", None, 1, "", ""),
        request("INFO", "z9hG4bKi1", None, 1, "", ""),
        String::from_utf8(request("OPTIONS", "z9hG4bKo2", None, 1, "", ""))
            .expect("utf-8")
            .replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
            .into_bytes(),
    ];
    for bytes in requests {
        let (sent, _) = h.receive(&bytes);
        assert_eq!(sent.len(), 1);
        assert!(!to_tag(&sent[0]).is_empty(), "{}", sent[0]);
    }
    h.incoming();
    let (sent, _) = h.receive(&invite("z9hG4bKsecond"));
    assert_eq!(status(&sent), [482]);
    assert!(!to_tag(&sent[0]).is_empty());
}

#[test]
fn the_200_to_a_cancel_carries_the_dialogs_tag() {
    let mut h = Harness::new(None);
    let call = h.incoming();
    h.uas.ring(h.now, call);
    let (sent, _) = h.drain();
    let tag = to_tag(&sent[0]);
    let (sent, _) = h.receive(&request("CANCEL", "z9hG4bKinv1", None, 1, "", ""));
    assert_eq!(status(&sent), [200, 487]);
    assert_eq!(to_tag(&sent[0]), tag);
    assert_eq!(to_tag(&sent[1]), tag);
}

#[test]
fn a_hangup_before_the_ack_waits_for_it_while_the_200_is_still_resent() {
    let mut h = Harness::new(None);
    let (call, tag) = h.answered();
    h.uas.hangup(h.now, call);
    let (sent, events) = h.drain();
    assert!(sent.is_empty() && events.is_empty(), "no BYE yet: {sent:?}");
    let (sent, _) = h.advance(Duration::from_millis(1600));
    assert_eq!(status(&sent), [200, 200], "the 200 is resent meanwhile");
    let (sent, _) = h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("BYE "), "{}", sent[0]);
    let (sent, _) = h.advance(Duration::from_millis(400));
    assert!(sent.is_empty(), "no more 200s after the ACK: {sent:?}");
}

#[test]
fn a_transfer_before_the_ack_sends_its_refer_once_the_ack_comes() {
    let mut h = Harness::new(None);
    let (call, tag) = h.answered();
    h.uas.refer(h.now, call, "sip:human@pbx.example");
    let (sent, _) = h.drain();
    assert!(sent.is_empty(), "{sent:?}");
    let (sent, _) = h.receive(&request("ACK", "z9hG4bKack1", Some(&tag), 1, "", ""));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("REFER ") && sent[0].contains("Refer-To: <sip:human@pbx.example>"));
}

#[test]
fn a_hangup_before_an_ack_that_never_comes_sends_bye_when_the_200_times_out() {
    let mut h = Harness::new(None);
    let (call, _) = h.answered();
    h.uas.hangup(h.now, call);
    let (sent, events) = h.advance(Duration::from_secs(33));
    let first_bye = sent
        .iter()
        .position(|s| s.starts_with("BYE "))
        .expect("a BYE");
    let last_200 = sent.iter().rposition(|s| s.starts_with("SIP/2.0 200"));
    assert!(
        last_200 < Some(first_bye),
        "BYE only after the 200 timed out"
    );
    assert_eq!(
        status(&sent[..first_bye]).len(),
        10,
        "all ten resends of the 200"
    );
    assert_eq!(ended(&events), [EndCause::NoAck]);
}

#[test]
fn a_late_ack_of_the_first_200_does_not_acknowledge_a_reinvites_200() {
    let mut h = Harness::new(None);
    let (_, tag) = h.answered();
    let ack = request("ACK", "z9hG4bKack1", Some(&tag), 1, "", "");
    h.receive(&ack);
    let (sent, _) = h.receive(&request("INVITE", "z9hG4bKre1", Some(&tag), 2, "", OFFER));
    assert_eq!(status(&sent), [200]);
    h.receive(&request("ACK", "z9hG4bKack1b", Some(&tag), 1, "", ""));
    let (sent, _) = h.advance(Duration::from_millis(600));
    assert_eq!(status(&sent), [200], "the re-INVITE's 200 is still resent");
    h.receive(&request("ACK", "z9hG4bKack2", Some(&tag), 2, "", ""));
    let (sent, _) = h.advance(Duration::from_secs(40));
    assert!(sent.is_empty(), "{sent:?}");
}

/// An INVITE answering `challenge` (a 401) with the right password, for Request-URI `uri`.
pub(super) fn authorized_invite(challenge: &str, uri: &str, branch: &str) -> Vec<u8> {
    let challenge = Message::parse(challenge.as_bytes()).expect("401");
    let header = challenge.header("WWW-Authenticate").expect("challenge");
    let nonce = header
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("nonce");
    let md5 = |text: String| {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(text.as_bytes()))
    };
    let ha1 = md5("trunk:voxgate:s3cret-pass".to_owned());
    let ha2 = md5(format!("INVITE:{uri}"));
    let response = md5(format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let authorization = format!(
        "Authorization: Digest username=\"trunk\", realm=\"voxgate\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
    );
    request("INVITE", branch, None, 2, &authorization, OFFER)
}

pub(super) fn with_auth() -> Harness {
    Harness::new(Some(DigestAuth::new(
        super::super::super::digest::Credentials {
            username: "trunk".into(),
            password: crate::secret::Secret::new("s3cret-pass"),
            realm: "voxgate".into(),
        },
    )))
}

#[test]
fn a_nonce_used_from_another_address_or_for_another_uri_gets_a_fresh_challenge() {
    let mut h = with_auth();
    let (sent, _) = h.receive(&invite("z9hG4bKa1"));
    assert_eq!(status(&sent), [401]);
    let challenge = sent[0].clone();
    let other_uri = authorized_invite(&challenge, "sip:+15550199@198.51.100.1", "z9hG4bKa2");
    let (sent, events) = h.receive(&other_uri);
    assert_eq!(status(&sent), [401], "the digest names another Request-URI");
    assert!(events.is_empty() && !sent[0].contains("stale=true"));
    h.peer = "203.0.113.5:5060".parse().expect("address");
    let right = authorized_invite(&challenge, "sip:+15550100@198.51.100.1", "z9hG4bKa3");
    let (sent, events) = h.receive(&right);
    assert_eq!(
        status(&sent),
        [401],
        "the nonce was issued to another address"
    );
    assert!(events.is_empty() && !sent[0].contains("stale=true"));
    h.peer = PEER.parse().expect("address");
    let (sent, events) = h.receive(&authorized_invite(
        &challenge,
        "sip:+15550100@198.51.100.1",
        "z9hG4bKa4",
    ));
    assert_eq!(status(&sent), [100], "from the address it was issued to");
    assert!(matches!(events.as_slice(), [Event::Invite(_)]));
}

#[test]
fn a_flood_of_unique_branch_options_and_unknown_methods_keeps_no_transactions() {
    let mut h = Harness::new(None);
    for n in 0..50_000 {
        let method = if n % 2 == 0 { "OPTIONS" } else { "SUBSCRIBE" };
        let (sent, _) = h.receive(&request(method, &format!("z9hG4bKf{n}"), None, 1, "", ""));
        assert_eq!(sent.len(), 1);
    }
    h.receive(&request("BYE", "z9hG4bKnodialog", Some("x"), 2, "", ""));
    h.receive(&request("CANCEL", "z9hG4bKnone", None, 1, "", ""));
    h.receive(&request("INFO", "z9hG4bKnone", Some("x"), 1, "", ""));
    assert_eq!(h.uas.server.len(), 0);
    let (sent, _) = h.receive(&request("OPTIONS", "z9hG4bKf0", None, 1, "", ""));
    assert_eq!(status(&sent), [200], "a retransmission gets a fresh answer");
}

#[test]
fn with_the_transaction_map_full_a_new_invite_gets_a_stateless_503() {
    let mut h = Harness::new(None);
    for n in 0..MAX_SERVER_TX {
        let key = TxKey {
            branch: format!("z9hG4bKfill{n}"),
            method: "INFO".into(),
            source: h.peer,
        };
        let tx = transaction::ServerTx {
            response: None,
            call: None,
            resend: None,
            success: false,
            expires: Some(h.now + Duration::from_secs(32)),
        };
        h.uas.server.insert(key, tx);
    }
    let (sent, events) = h.receive(&invite("z9hG4bKlate"));
    assert_eq!(status(&sent), [503]);
    assert!(sent[0].contains("Retry-After: 5"));
    assert!(events.is_empty());
    assert_eq!(h.uas.server.len(), MAX_SERVER_TX);
    h.advance(Duration::from_secs(33));
    assert_eq!(h.uas.server.len(), 0);
    let (sent, _) = h.receive(&invite("z9hG4bKlater"));
    assert_eq!(status(&sent), [100], "room again once they expire");
}

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

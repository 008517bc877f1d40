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

//! The parser on examples, and on generated input: arbitrary bytes and mutated valid messages
//! never panic the parser or the UAS behind it.

use super::*;
use crate::transport::sip::uas::{Settings, Uas};
use proptest::prelude::*;

const VALID: &str = "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\n\
    v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
    f: \"A\" <sip:+15559876@127.0.0.1>;tag=a1\r\n\
    t: <sip:+15550100@127.0.0.1>\r\n\
    i: abc@127.0.0.1\r\n\
    CSeq: 1 INVITE\r\n\
    Subject: folded\r\n  continued\r\n\
    c: application/sdp\r\n\
    l: 4\r\n\r\nv=0\ntrailing";

#[test]
fn compact_headers_folding_and_content_length_are_understood() {
    let message = Message::parse(VALID.as_bytes()).expect("parses");
    assert_eq!(message.method(), Some("INVITE"));
    assert_eq!(message.branch(), Some("z9hG4bK1"));
    assert_eq!(message.header("call-id"), Some("abc@127.0.0.1"));
    assert_eq!(message.header("Subject"), Some("folded continued"));
    assert_eq!(message.body, b"v=0\n");
    assert_eq!(message.cseq(), Some((1, "INVITE")));
    assert!(message.check_request().is_ok());
    let from = NameAddr::parse(message.header("From").expect("from")).expect("name-addr");
    assert_eq!(
        (from.uri, from.tag()),
        ("sip:+15559876@127.0.0.1", Some("a1"))
    );
    assert_eq!(uri_user(from.uri), Some("+15559876"));
}

#[test]
fn a_content_length_past_the_datagram_fails_the_request_check() {
    let text = VALID.replace("l: 4", "l: 400");
    let message = Message::parse(text.as_bytes()).expect("parses");
    assert_eq!(
        message.check_request(),
        Err(RequestProblem::Header("Content-Length"))
    );
}

#[test]
fn responses_and_uris_parse() {
    let response = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n";
    let message = Message::parse(response.as_bytes()).expect("parses");
    assert_eq!(message.start, StartLine::Response { code: 180 });
    assert_eq!(uri_user("tel:+15550100;phone-context=x"), Some("+15550100"));
    assert_eq!(uri_user("sip:host.example"), None);
    assert!(Message::parse(b"SIP/2.0 99 Nope\r\n\r\n").is_err());
    assert!(Message::parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n").is_err());
}

fn feed(bytes: &[u8]) {
    let _ = Message::parse(bytes).map(|m| (m.check_request(), m.branch().map(str::len)));
    let now = std::time::Instant::now();
    let mut uas = Uas::new(
        Settings {
            contact_host: "127.0.0.1:5060".into(),
            auth: None,
        },
        now,
    );
    let peer = "127.0.0.1:5062".parse().expect("addr");
    uas.handle_datagram(now, peer, bytes);
    uas.handle_datagram(now, peer, bytes);
    uas.handle_timeout(now + std::time::Duration::from_secs(40));
    while uas.poll_output().is_some() {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        feed(&bytes);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        edits in proptest::collection::vec((0..VALID.len(), any::<u8>(), 0..3_u8), 1..8),
        cut in 0..VALID.len() + 1,
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let at = at.min(bytes.len());
            match op {
                0 => { if at < bytes.len() { bytes[at] = byte } }
                1 => bytes.insert(at, byte),
                _ => { if at < bytes.len() { bytes.remove(at); } }
            }
        }
        bytes.truncate(cut.max(bytes.len() / 2));
        feed(&bytes);
    }

    #[test]
    fn mutated_header_values_never_panic(value in "[ -~]{0,80}", index in 1_usize..9) {
        let mut lines: Vec<String> = VALID.split("\r\n").map(str::to_owned).collect();
        if let Some(line) = lines.get_mut(index)
            && let Some((name, _)) = line.split_once(':')
        {
            *line = format!("{name}: {value}");
        }
        feed(lines.join("\r\n").as_bytes());
    }
}

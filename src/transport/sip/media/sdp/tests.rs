use super::*;
use proptest::prelude::*;

fn local() -> SocketAddr {
    "192.0.2.10:40000".parse().expect("address")
}

fn offer(media: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n{media}"
    )
}

fn answer_of(text: &str) -> Result<(String, Negotiated), SdpError> {
    answer(text.as_bytes(), local(), 3)
}

#[test]
fn pcmu_is_chosen_when_the_offerer_lists_it_first() {
    let text = offer("m=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    let (_, negotiated) = answer_of(&text).expect("answer");
    assert_eq!(negotiated.codec, SipCodec::Pcmu);
    assert_eq!(negotiated.payload_type, 0);
    assert_eq!(negotiated.dtmf_payload_type, Some(101));
    assert_eq!(
        negotiated.remote_rtp,
        "198.51.100.7:5004".parse().expect("a")
    );
}

#[test]
fn pcma_is_chosen_when_the_offerer_prefers_it_and_an_unknown_codec_is_skipped() {
    let text = offer("m=audio 5004 RTP/AVP 97 8 0\r\na=rtpmap:97 iLBC/8000\r\n");
    let (answer, negotiated) = answer_of(&text).expect("answer");
    assert_eq!(
        (negotiated.codec, negotiated.payload_type),
        (SipCodec::Pcma, 8)
    );
    assert_eq!(negotiated.dtmf_payload_type, None);
    assert!(answer.contains("m=audio 40000 RTP/AVP 8\r\n"), "{answer}");
    assert!(!answer.contains("telephone-event"), "{answer}");
}

#[test]
fn the_answer_carries_our_address_codec_dtmf_ptime_and_direction() {
    let text = offer(
        "m=audio 5004 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n",
    );
    let (answer, _) = answer_of(&text).expect("answer");
    for line in [
        "v=0\r\n",
        "o=voxgate 40000 3 IN IP4 192.0.2.10\r\n",
        "c=IN IP4 192.0.2.10\r\n",
        "t=0 0\r\n",
        "m=audio 40000 RTP/AVP 8 96\r\n",
        "a=rtpmap:8 PCMA/8000\r\n",
        "a=rtpmap:96 telephone-event/8000\r\n",
        "a=ptime:20\r\n",
        "a=sendrecv\r\n",
    ] {
        assert!(answer.contains(line), "missing {line:?} in {answer}");
    }
}

#[test]
fn a_media_level_connection_overrides_the_session_level_one() {
    let text =
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 7000 RTP/AVP 0\nc=IN IP4 10.0.0.9\n";
    let (_, negotiated) = answer_of(text).expect("answer with bare newlines");
    assert_eq!(negotiated.remote_rtp, "10.0.0.9:7000".parse().expect("a"));
}

#[test]
fn a_rejected_audio_stream_is_skipped_and_answered_with_port_zero() {
    let text =
        offer("m=audio 0 RTP/AVP 0\r\nm=video 6000 RTP/AVP 96\r\nm=audio 5006 RTP/AVP 0\r\n");
    let (answer, negotiated) = answer_of(&text).expect("answer");
    assert_eq!(negotiated.remote_rtp.port(), 5006);
    assert!(answer.contains("m=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 40000"));
}

#[test]
fn a_sendonly_offer_is_answered_recvonly() {
    let text = offer("m=audio 5004 RTP/AVP 0\r\na=sendonly\r\n");
    let (answer, _) = answer_of(&text).expect("answer");
    assert!(answer.contains("a=recvonly\r\n"), "{answer}");
}

#[test]
fn broken_offers_are_malformed_and_map_to_400() {
    for text in [
        "",
        "hello",
        "v=1\r\n",
        "v=0\r\nm=audio five RTP/AVP 0\r\n",
        "v=0\r\nm=audio 5004\r\n",
        "v=0\r\nc=IN IP4 not-an-ip\r\n",
        "v=0\r\nm=audio 5004 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n",
        "v=0\r\nno equals sign\r\n",
    ] {
        let error = answer_of(text).expect_err(text);
        assert!(
            matches!(error, SdpError::Malformed(_)),
            "{text:?}: {error:?}"
        );
        assert_eq!(error.status(), 400);
    }
    let missing_c = "v=0\r\nm=audio 5004 RTP/AVP 0\r\n";
    assert!(matches!(answer_of(missing_c), Err(SdpError::Malformed(_))));
    assert!(matches!(
        answer(&[0xff, 0xfe], local(), 1),
        Err(SdpError::Malformed(_))
    ));
}

#[test]
fn offers_we_cannot_serve_map_to_488() {
    let video_only = offer("m=video 6000 RTP/AVP 96\r\n");
    assert_eq!(answer_of(&video_only), Err(SdpError::NoAudio));
    let rejected = offer("m=audio 0 RTP/AVP 0\r\n");
    assert_eq!(answer_of(&rejected), Err(SdpError::NoAudio));
    let ilbc_only = offer("m=audio 5004 RTP/AVP 97\r\na=rtpmap:97 iLBC/8000\r\n");
    assert_eq!(answer_of(&ilbc_only), Err(SdpError::NoCommonCodec));
    let srtp = offer("m=audio 5004 RTP/SAVP 0\r\n");
    assert_eq!(answer_of(&srtp), Err(SdpError::UnsupportedTransport));
    let ipv6 = "v=0\r\nc=IN IP6 ::1\r\nm=audio 5004 RTP/AVP 0\r\n";
    assert_eq!(answer_of(ipv6), Err(SdpError::UnsupportedTransport));
    for error in [
        SdpError::NoAudio,
        SdpError::NoCommonCodec,
        SdpError::UnsupportedTransport,
    ] {
        assert_eq!(error.status(), 488);
    }
}

#[test]
fn a_reinvite_must_still_offer_the_call_codec() {
    let first = offer("m=audio 5004 RTP/AVP 8 0\r\n");
    let (_, current) = answer_of(&first).expect("answer");
    let reordered = offer("m=audio 5004 RTP/AVP 0 8\r\na=sendrecv\r\n");
    let (answer, again) = reanswer(reordered.as_bytes(), &current, local(), 4).expect("same codec");
    assert_eq!((again.codec, again.payload_type), (SipCodec::Pcma, 8));
    assert!(answer.contains("o=voxgate 40000 4 "), "{answer}");
    let pcmu_only = offer("m=audio 5004 RTP/AVP 0\r\n");
    assert_eq!(
        reanswer(pcmu_only.as_bytes(), &current, local(), 5),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn a_reinvite_that_moves_or_holds_the_media_is_refused() {
    let first = offer("m=audio 5004 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    let (_, current) = answer_of(&first).expect("answer");
    let changes = [
        first.replace("m=audio 5004", "m=audio 5008"),
        first.replace("c=IN IP4 198.51.100.7", "c=IN IP4 198.51.100.8"),
        format!("{first}a=sendonly\r\n"),
        format!("{first}a=inactive\r\n"),
        offer(
            "m=audio 5004 RTP/AVP 97 101\r\na=rtpmap:97 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        ),
    ];
    for changed in changes {
        let result = reanswer(changed.as_bytes(), &current, local(), 4);
        assert_eq!(result.map(|_| ()), Err(SdpError::MediaChanged), "{changed}");
        assert_eq!(SdpError::MediaChanged.status(), 488);
    }
    assert!(reanswer(first.as_bytes(), &current, local(), 4).is_ok());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = answer(&bytes, local(), 1);
    }

    #[test]
    fn arbitrary_sdp_like_lines_never_panic_the_parser(
        lines in proptest::collection::vec("[vcmao]=[ -~]{0,40}", 0..12)
    ) {
        let text = format!("v=0\r\n{}", lines.join("\r\n"));
        let _ = answer(text.as_bytes(), local(), 1);
    }
}

#[test]
fn opus_is_chosen_when_the_offerer_lists_it_first_and_answered_mono() {
    let text = offer(
        "m=audio 5004 RTP/AVP 111 0 8 101\r\na=rtpmap:111 opus/48000/2\r\n\
         a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    let (answer, negotiated) = answer_of(&text).expect("answer");
    assert_eq!(
        (negotiated.codec, negotiated.payload_type),
        (SipCodec::Opus, 111)
    );
    assert_eq!(negotiated.dtmf_payload_type, Some(101));
    assert_eq!(negotiated.codec.clock_hz(), 48_000);
    assert_eq!(negotiated.codec.ticks_per_frame(), 960);
    assert!(
        answer.contains("m=audio 40000 RTP/AVP 111 101\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=rtpmap:111 opus/48000/2\r\n"), "{answer}");
    assert!(
        answer.contains("a=fmtp:111 useinbandfec=0;stereo=0;sprop-stereo=0\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{answer}"
    );
    assert!(
        !answer.contains("PCMU") && !answer.contains("PCMA"),
        "{answer}"
    );
}

#[test]
fn g711_is_chosen_when_opus_comes_after_it_or_is_absent() {
    let after = offer("m=audio 5004 RTP/AVP 0 96\r\na=rtpmap:96 OPUS/48000/2\r\n");
    let (answer, negotiated) = answer_of(&after).expect("answer");
    assert_eq!(
        (negotiated.codec, negotiated.payload_type),
        (SipCodec::Pcmu, 0)
    );
    assert_eq!(negotiated.codec.ticks_per_frame(), 160);
    assert!(answer.contains("a=rtpmap:0 PCMU/8000\r\n"), "{answer}");
    assert!(
        !answer.contains("opus") && !answer.contains("fmtp"),
        "{answer}"
    );

    let absent = offer("m=audio 5004 RTP/AVP 8\r\n");
    let (_, negotiated) = answer_of(&absent).expect("answer");
    assert_eq!(negotiated.codec, SipCodec::Pcma);
}

#[test]
fn opus_at_another_clock_or_without_an_rtpmap_is_not_opus() {
    let wrong_clock = offer("m=audio 5004 RTP/AVP 111 8\r\na=rtpmap:111 opus/16000/1\r\n");
    let (_, negotiated) = answer_of(&wrong_clock).expect("answer");
    assert_eq!(negotiated.codec, SipCodec::Pcma);
    let unmapped = offer("m=audio 5004 RTP/AVP 111\r\n");
    assert_eq!(answer_of(&unmapped).err(), Some(SdpError::NoCommonCodec));
}

#[test]
fn a_reoffer_keeps_an_opus_call_on_opus() {
    let text = offer("m=audio 5004 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n");
    let (_, first) = answer_of(&text).expect("answer");
    let (_, again) = reanswer(text.as_bytes(), &first, local(), 4).expect("reanswer");
    assert_eq!(again, first);
    let without = offer("m=audio 5004 RTP/AVP 0\r\n");
    assert_eq!(
        reanswer(without.as_bytes(), &first, local(), 5).err(),
        Some(SdpError::NoCommonCodec)
    );
}

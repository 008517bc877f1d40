use super::*;

const PEER: &str = "198.51.100.7:5004";
/// Where the INVITE came from: the caller's NAT, not the address in its SDP.
const SIGNALLING: &str = "203.0.113.9";

fn negotiated() -> Negotiated {
    Negotiated {
        codec: SipCodec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        direction: crate::transport::sip::media::sdp::Direction::SendRecv,
        remote_rtp: PEER.parse().expect("address"),
    }
}

fn leg() -> RtpLeg {
    RtpLeg::new(
        &negotiated(),
        SIGNALLING.parse().expect("ip"),
        Stream {
            ssrc: 7,
            seq: 65_534,
            timestamp: 1000,
        },
    )
    .expect("leg")
}

fn peer() -> SocketAddr {
    PEER.parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A caller packet whose payload is 160 bytes of `seq as u8`.
fn packet(pt: u8, seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Header {
        marker: false,
        payload_type: pt,
        seq,
        timestamp,
        ssrc: 42,
    }
    .to_bytes()
    .to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

fn audio(seq: u16) -> Vec<u8> {
    packet(0, seq, u32::from(seq) * 160, &[seq as u8; FRAME])
}

/// The caller audio chunks the leg has produced so far, as their first byte.
fn played(leg: &mut RtpLeg) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(event) = leg.poll_event() {
        if let ClientEvent::Audio(chunk) = event {
            assert_eq!(chunk.format, AudioFormat::Pcmu);
            assert_eq!(chunk.data.len(), FRAME);
            out.push(chunk.data[0]);
        }
    }
    out
}

fn agent_audio(ms: usize, mark: u64) -> ClientCommand {
    ClientCommand::Audio {
        chunk: AudioChunk {
            format: AudioFormat::Pcmu,
            data: vec![0x55; ms * 8],
        },
        mark,
    }
}

/// Marks reported, with when.
type Marks = Vec<(Duration, u64)>;

/// Drives the leg's timer from `start` to `end`, collecting (send time, packet bytes) and
/// marks reported with their time.
fn run_until(leg: &mut RtpLeg, start: Instant, end: Instant) -> (Vec<(Duration, Outgoing)>, Marks) {
    let (mut sent, mut marks) = (Vec::new(), Vec::new());
    let mut now = start;
    let mut collect = |leg: &mut RtpLeg, now: Instant| {
        while let Some(out) = leg.poll_transmit() {
            sent.push((now - start, out));
        }
        while let Some(event) = leg.poll_event() {
            if let ClientEvent::MarkPlayed(mark) = event {
                marks.push((now - start, mark));
            }
        }
    };
    collect(leg, now);
    while let Some(next) = leg.poll_timeout() {
        if next > end {
            break;
        }
        now = now.max(next);
        leg.handle_timeout(now);
        collect(leg, now);
    }
    (sent, marks)
}

#[test]
fn caller_audio_plays_in_order_after_the_jitter_target_despite_reordering() {
    let mut leg = leg();
    let start = Instant::now();
    // Arrivals every 20 ms, with 3 and 4 swapped.
    for (i, seq) in [1u16, 2, 4, 3, 5, 6, 7].into_iter().enumerate() {
        let at = start + ms(20 * i as u64);
        leg.handle_timeout(at);
        leg.receive(at, peer(), &audio(seq));
    }
    let end = start + ms(200);
    leg.handle_timeout(end);
    assert_eq!(played(&mut leg), vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn a_lost_packet_repeats_the_previous_frame_once_then_silence() {
    let mut leg = leg();
    let start = Instant::now();
    for (i, seq) in [1u16, 2, 3, 6, 7, 8, 9].into_iter().enumerate() {
        let at = start + ms(20 * i as u64);
        leg.handle_timeout(at);
        leg.receive(at, peer(), &audio(seq));
    }
    leg.handle_timeout(start + ms(300));
    assert_eq!(
        played(&mut leg),
        vec![1, 2, 3, 3, 0xFF, 6, 7, 8, 9],
        "4 repeats 3, 5 is μ-law silence"
    );
}

#[test]
fn caller_audio_leaves_one_frame_per_20_ms_not_in_a_burst() {
    let mut leg = leg();
    let start = Instant::now();
    for seq in 1..=10u16 {
        leg.receive(start, peer(), &audio(seq)); // all at once
    }
    assert_eq!(played(&mut leg).len(), 1, "one frame when playout starts");
    leg.handle_timeout(start + ms(19));
    assert!(played(&mut leg).is_empty());
    leg.handle_timeout(start + ms(60));
    assert_eq!(played(&mut leg), vec![2, 3, 4]);
}

#[test]
fn one_digit_per_key_press_reaches_the_session() {
    let mut leg = leg();
    let now = Instant::now();
    for timestamp in [8000u32, 16_000] {
        for end in [false, false, true, true, true] {
            let payload = [5, u8::from(end) << 7, 0, 160];
            leg.receive(now, peer(), &packet(101, 9, timestamp, &payload));
        }
    }
    let mut digits = Vec::new();
    while let Some(event) = leg.poll_event() {
        if let ClientEvent::Dtmf(digit) = event {
            digits.push(digit);
        }
    }
    assert_eq!(digits, vec!['5', '5']);
}

#[test]
fn agent_audio_is_paced_20_ms_apart_with_continuous_seq_and_timestamp() {
    let mut leg = leg();
    let start = Instant::now();
    assert_eq!(leg.command(start, agent_audio(100, 1)), None);
    let (sent, marks) = run_until(&mut leg, start, start + ms(500));
    assert_eq!(sent.len(), 5);
    for (i, (at, out)) in sent.iter().enumerate() {
        assert_eq!(*at, ms(20 * i as u64));
        assert_eq!(out.to, peer());
        let packet = rtp::parse(out.bytes()).expect("rtp");
        assert_eq!(packet.seq, 65_534u16.wrapping_add(i as u16), "seq wraps on");
        assert_eq!(packet.timestamp, 1000 + 160 * i as u32);
        assert_eq!((packet.ssrc, packet.payload_type), (7, 0));
        assert_eq!(packet.marker, i == 0, "marker on the first packet only");
        assert_eq!(packet.payload, &[0x55; FRAME][..], "G.711 round-trips");
    }
    assert_eq!(marks, vec![(ms(80), 1)], "the mark follows its last frame");
}

#[test]
fn a_stall_does_not_burst_and_a_pause_sets_the_marker_and_advances_the_timestamp() {
    let mut leg = leg();
    let start = Instant::now();
    leg.command(start, agent_audio(200, 1));
    let (first, _) = run_until(&mut leg, start, start + ms(20));
    assert_eq!(first.len(), 2);
    // The task stalls for 100 ms: only one frame goes out when it wakes.
    let late = start + ms(140);
    leg.handle_timeout(late);
    let mut burst = 0;
    while leg.poll_transmit().is_some() {
        burst += 1;
    }
    assert_eq!(burst, 1, "no catch-up burst");
    let (rest, marks) = run_until(&mut leg, late, late + ms(1000));
    assert_eq!(rest.len(), 7);
    assert!(rest.windows(2).all(|pair| pair[1].0 - pair[0].0 == ms(20)));
    assert_eq!(marks.len(), 1);
    // Silence for a second, then a new talkspurt.
    let resume = late + ms(2000);
    leg.command(resume, agent_audio(20, 2));
    let out = leg.poll_transmit().expect("sent at once");
    let packet = rtp::parse(out.bytes()).expect("rtp");
    let last = rtp::parse(rest[6].1.bytes()).expect("rtp");
    assert!(packet.marker);
    assert_eq!(packet.seq, last.seq.wrapping_add(1));
    assert!(
        packet.timestamp.wrapping_sub(last.timestamp) >= 160 * 90,
        "the timestamp moved on by the pause"
    );
}

#[test]
fn clear_playback_drops_queued_audio_and_its_marks() {
    let mut leg = leg();
    let start = Instant::now();
    leg.command(start, agent_audio(1000, 1));
    assert!(leg.poll_transmit().is_some());
    leg.command(start + ms(5), ClientCommand::ClearPlayback);
    let (sent, marks) = run_until(&mut leg, start + ms(5), start + ms(500));
    assert!(sent.is_empty(), "{} frames after a clear", sent.len());
    assert!(marks.is_empty());
}

#[test]
fn rtp_goes_to_the_sdp_address_until_the_peer_is_heard_then_to_its_source() {
    let mut leg = leg();
    let start = Instant::now();
    leg.command(start, agent_audio(20, 1));
    assert_eq!(leg.poll_transmit().expect("frame").to, peer());
    let nat: SocketAddr = "203.0.113.9:61000".parse().expect("address");
    leg.receive(start, nat, &audio(1));
    assert_eq!(leg.remote(), nat);
    leg.command(start + ms(40), agent_audio(20, 2));
    assert_eq!(leg.poll_transmit().expect("frame").to, nat);
    let intruder: SocketAddr = "203.0.113.66:4000".parse().expect("address");
    leg.receive(start + ms(40), intruder, &audio(2));
    assert_eq!(leg.remote(), nat, "another source does not take over");
    assert_eq!(leg.last_heard(), Some(start));
}

#[test]
fn other_payload_types_and_garbage_are_ignored() {
    let mut leg = leg();
    let now = Instant::now();
    leg.receive(now, peer(), &packet(13, 1, 0, &[0; 1])); // comfort noise
    leg.receive(now, peer(), &[1, 2, 3]);
    assert_eq!(leg.last_heard(), None);
    assert!(leg.poll_event().is_none());
}

#[test]
fn a_transfer_then_its_end_ends_the_leg_with_the_target() {
    let mut leg = leg();
    let now = Instant::now();
    let target = "sip:billing@pbx.example.com".to_owned();
    let transfer = ClientCommand::Transfer {
        target_uri: target.clone(),
    };
    assert_eq!(leg.command(now, transfer), None);
    assert_eq!(
        leg.command(now, ClientCommand::Ended(EndReason::Transferred)),
        Some(MediaEnd::Transfer { target })
    );
    assert_eq!(
        leg.command(now, ClientCommand::Ended(EndReason::AgentEnded)),
        Some(MediaEnd::SessionEnded(EndReason::AgentEnded))
    );
}

#[test]
fn before_latching_only_the_sdp_or_signalling_address_can_take_the_leg() {
    let mut first = leg();
    let start = Instant::now();
    let stranger: SocketAddr = "192.0.2.99:4000".parse().expect("address");
    assert!(
        !first.receive(start, stranger, &audio(1)),
        "not counted as caller audio"
    );
    first.receive(start, stranger, &packet(101, 2, 0, &[5, 0, 0, 160]));
    assert_eq!(first.remote(), peer(), "a stranger does not latch");
    assert_eq!(first.last_heard(), None);
    assert!(first.poll_event().is_none(), "nor is it heard");
    let from_sdp_ip: SocketAddr = "198.51.100.7:7000".parse().expect("address");
    assert!(first.receive(start, from_sdp_ip, &audio(1)), "caller audio");
    assert_eq!(first.remote(), from_sdp_ip, "the SDP's address latches");

    let mut second = leg();
    let from_signalling: SocketAddr = "203.0.113.9:61000".parse().expect("address");
    second.receive(start, from_signalling, &audio(1));
    assert_eq!(
        second.remote(),
        from_signalling,
        "the signalling source latches"
    );
}

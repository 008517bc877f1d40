//! The media task over real UDP sockets on 127.0.0.1, with the session's channels.

use super::*;
use crate::transport::sip::media::{rtp::Header, sdp::SipCodec};
use voxgate_core::session::{AudioChunk, AudioFormat};

/// Where the tests' INVITE would have come from.
const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn peer_and_leg() -> (UdpSocket, UdpSocket, Negotiated) {
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer socket");
    let ours = bind_rtp("127.0.0.1".parse().expect("ip"), 30_000..=30_999)
        .await
        .expect("rtp socket");
    let negotiated = Negotiated {
        codec: SipCodec::Pcma,
        payload_type: 8,
        dtmf_payload_type: Some(101),
        direction: crate::transport::sip::media::sdp::Direction::SendRecv,
        remote_rtp: peer.local_addr().expect("address"),
    };
    (peer, ours, negotiated)
}

fn caller_packet(seq: u16, pt: u8, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        marker: false,
        payload_type: pt,
        seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 99,
    };
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test]
async fn bind_rtp_takes_an_even_port_in_the_range() {
    let socket = bind_rtp("127.0.0.1".parse().expect("ip"), 31_001..=31_100)
        .await
        .expect("bound");
    let port = socket.local_addr().expect("address").port();
    assert!(port % 2 == 0 && (31_002..=31_100).contains(&port), "{port}");
    let none = bind_rtp("127.0.0.1".parse().expect("ip"), 31_201..=31_201).await;
    assert!(none.is_err(), "a range without an even port");
}

#[tokio::test]
async fn audio_digits_and_agent_speech_cross_real_sockets_and_stop_hangs_up() {
    let (peer, ours, negotiated) = peer_and_leg().await;
    let ours_addr = ours.local_addr().expect("address");
    let (event_tx, mut events) = mpsc::channel(64);
    let (commands, command_rx) = mpsc::channel(64);
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(
        ours, negotiated, LOCALHOST, event_tx, command_rx, stop_rx,
    ));

    for seq in 1..=4u16 {
        let packet = caller_packet(seq, 8, &[seq as u8; 160]);
        peer.send_to(&packet, ours_addr).await.expect("sent");
    }
    let digit = caller_packet(5, 101, &[11, 0x80, 0, 160]);
    for _ in 0..3 {
        peer.send_to(&digit, ours_addr).await.expect("sent");
    }
    let mut audio = Vec::new();
    let mut digits = Vec::new();
    while audio.len() < 2 || digits.is_empty() {
        let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .expect("event in time")
            .expect("event");
        match event {
            ClientEvent::Audio(chunk) => {
                assert_eq!(chunk.format, AudioFormat::Pcma);
                audio.push(chunk.data[0]);
            }
            ClientEvent::Dtmf(digit) => digits.push(digit),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(&audio[..2], &[1, 2]);
    assert_eq!(digits, vec!['#']);

    let chunk = AudioChunk {
        format: AudioFormat::Pcma,
        data: vec![0xD5; 320],
    };
    commands
        .send(ClientCommand::Audio { chunk, mark: 7 })
        .await
        .expect("command");
    let mut buffer = [0u8; 512];
    for _ in 0..2 {
        let (len, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buffer))
            .await
            .expect("agent audio in time")
            .expect("received");
        assert_eq!(from, ours_addr);
        let packet = rtp::parse(&buffer[..len]).expect("rtp");
        assert_eq!((packet.payload_type, packet.payload.len()), (8, 160));
    }
    loop {
        let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .expect("mark in time")
            .expect("event");
        if event == ClientEvent::MarkPlayed(7) {
            break;
        }
    }

    stop.send(()).expect("stop");
    assert_eq!(task.await.expect("task"), MediaEnd::Stopped);
    let mut hung_up = false;
    while let Ok(event) = events.try_recv() {
        hung_up |= event == ClientEvent::Hangup;
    }
    assert!(hung_up, "the session is told the caller hung up");
}

#[tokio::test]
async fn the_session_ending_the_call_ends_the_media() {
    let (_peer, ours, negotiated) = peer_and_leg().await;
    let (event_tx, _events) = mpsc::channel(64);
    let (commands, command_rx) = mpsc::channel(64);
    let (_stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(
        ours, negotiated, LOCALHOST, event_tx, command_rx, stop_rx,
    ));
    commands
        .send(ClientCommand::Ended(EndReason::AgentEnded))
        .await
        .expect("command");
    assert_eq!(
        task.await.expect("task"),
        MediaEnd::SessionEnded(EndReason::AgentEnded)
    );
}

#[tokio::test]
async fn a_silent_peer_times_out_and_the_session_hears_a_hangup() {
    let (_peer, ours, negotiated) = peer_and_leg().await;
    let (event_tx, mut events) = mpsc::channel(64);
    let (_commands, command_rx) = mpsc::channel(64);
    let (_stop, stop_rx) = oneshot::channel();
    let quiet = Duration::from_millis(200);
    let end = run_for(
        ours, negotiated, LOCALHOST, event_tx, command_rx, stop_rx, quiet,
    )
    .await;
    assert_eq!(end, MediaEnd::MediaTimeout);
    assert_eq!(events.recv().await, Some(ClientEvent::Hangup));
}

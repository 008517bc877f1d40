//! The leg with Opus: caller packets through the jitter buffer and decoder (with the decoder's
//! concealment for a lost one), agent PCM16 at 24 kHz through the pacer and encoder.

use super::*;
use crate::transport::{opus, sip::media::sdp::Direction};
use voxgate_core::audio::{SampleRate, rms_dbfs, tone::tone};

const PEER: &str = "198.51.100.7:5004";
const OPUS_PT: u8 = 111;

fn leg() -> RtpLeg {
    let negotiated = Negotiated {
        codec: SipCodec::Opus,
        payload_type: OPUS_PT,
        dtmf_payload_type: Some(101),
        direction: Direction::SendRecv,
        remote_rtp: PEER.parse().expect("address"),
    };
    let stream = Stream {
        ssrc: 7,
        seq: 65_534,
        timestamp: 4_294_966_000,
    };
    RtpLeg::new(&negotiated, "203.0.113.9".parse().expect("ip"), stream).expect("leg")
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// Caller audio chunks so far, as samples each; every one must be PCM16 at 24 kHz.
fn played(leg: &mut RtpLeg) -> Vec<Vec<i16>> {
    let mut out = Vec::new();
    while let Some(event) = leg.poll_event() {
        if let ClientEvent::Audio(chunk) = event {
            assert_eq!(chunk.format, AudioFormat::Pcm16 { rate: 24_000 });
            out.push(samples(&chunk.data));
        }
    }
    out
}

#[test]
fn the_session_format_of_an_opus_call_is_pcm16_at_24_khz() {
    assert_eq!(leg().format(), AudioFormat::Pcm16 { rate: 24_000 });
}

#[test]
fn caller_opus_packets_become_pcm16_chunks_and_a_loss_is_concealed() {
    let mut encoder = opus::encoder().expect("encoder");
    let signal = tone(440.0, 8000, SampleRate::Hz24k, opus::FRAME_SAMPLES * 30);
    let mut leg = leg();
    let peer: SocketAddr = PEER.parse().expect("address");
    let start = Instant::now();
    let mut chunks = Vec::new();
    for (index, frame) in signal.chunks(opus::FRAME_SAMPLES).enumerate() {
        let payload = encoder.encode(frame).expect("encode");
        let now = start + PERIOD * u32::try_from(index).expect("index");
        leg.handle_timeout(now);
        if index != 12 {
            let seq = u16::try_from(index).expect("seq");
            let header = Header {
                marker: index == 0,
                payload_type: OPUS_PT,
                seq,
                timestamp: u32::from(seq) * 960,
                ssrc: 42,
            };
            let mut bytes = header.to_bytes().to_vec();
            bytes.extend_from_slice(&payload);
            assert!(leg.receive(now, peer, &bytes), "caller audio");
        }
        chunks.extend(played(&mut leg));
    }
    // One chunk per 20 ms: 30 frames minus the jitter buffer's two still held at the end.
    assert_eq!(chunks.len(), 28, "the lost packet is played as concealment");
    assert!(
        chunks
            .iter()
            .all(|chunk| chunk.len() == opus::FRAME_SAMPLES)
    );
    let all: Vec<i16> = chunks.concat();
    let level = rms_dbfs(&all[opus::FRAME_SAMPLES * 5..]);
    assert!(level > -20.0, "the tone comes through: {level} dBFS");
    let concealed = rms_dbfs(&chunks[12]);
    assert!(
        concealed > -40.0,
        "the decoder's concealment continues the tone: {concealed} dBFS"
    );
}

#[test]
fn agent_pcm16_leaves_as_opus_packets_960_ticks_apart() {
    let mut leg = leg();
    let signal = tone(440.0, 8000, SampleRate::Hz24k, opus::FRAME_SAMPLES * 10);
    let data = signal.iter().flat_map(|s| s.to_le_bytes()).collect();
    let chunk = AudioChunk {
        format: AudioFormat::Pcm16 { rate: 24_000 },
        data,
    };
    let start = Instant::now();
    assert!(
        leg.command(start, ClientCommand::Audio { chunk, mark: 9 })
            .is_none()
    );
    let (mut sent, mut marks) = (Vec::new(), Vec::new());
    let mut now = start;
    loop {
        while let Some(out) = leg.poll_transmit() {
            sent.push(out);
        }
        while let Some(event) = leg.poll_event() {
            if let ClientEvent::MarkPlayed(mark) = event {
                marks.push(mark);
            }
        }
        match leg.poll_timeout() {
            Some(next) if next < start + Duration::from_secs(1) => {
                now = next.max(now);
                leg.handle_timeout(now);
            }
            _ => break,
        }
    }
    assert_eq!(sent.len(), 10, "one packet per 20 ms frame");
    assert_eq!(marks, vec![9]);
    let mut decoder = opus::decoder().expect("decoder");
    let mut decoded = Vec::new();
    let packets: Vec<_> = sent
        .iter()
        .map(|out| rtp::parse(out.bytes()).expect("rtp"))
        .collect();
    for (index, packet) in packets.iter().enumerate() {
        assert_eq!(packet.payload_type, OPUS_PT);
        assert_eq!(packet.ssrc, 7);
        assert_eq!(packet.marker, index == 0, "a talkspurt starts the stream");
        if let Some(before) = index.checked_sub(1).map(|i| &packets[i]) {
            assert_eq!(packet.seq, before.seq.wrapping_add(1));
            assert_eq!(packet.timestamp, before.timestamp.wrapping_add(960));
        }
        assert!(!packet.payload.is_empty() && packet.payload.len() <= MAX_PAYLOAD);
        let appended = decoder
            .decode(packet.payload, &mut decoded)
            .expect("decode");
        assert_eq!(appended, opus::FRAME_SAMPLES);
    }
    assert_eq!(packets[0].timestamp, 4_294_966_000);
    let level = rms_dbfs(&decoded[opus::FRAME_SAMPLES * 3..]);
    assert!(
        level > -20.0,
        "the payloads decode to the tone: {level} dBFS"
    );
}

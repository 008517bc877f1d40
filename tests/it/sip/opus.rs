//! An Opus SIP call end to end, from raw UDP: the INVITE offers Opus first, the 200 OK must
//! answer `opus/48000/2` (mono fmtp), and the agent's greeting must arrive as Opus RTP (+960
//! ticks a packet) that decodes to audible speech. No outside tool is needed.

use super::{SETTLE, Trunk};
use std::{net::SocketAddr, time::Duration};
use tokio::net::UdpSocket;
use voxgate_core::audio::{OpusDecoder, SampleRate, rms_dbfs};

const GREETER: &str = "+15550102";
const OPUS_PT: u8 = 111;

fn invite(to: SocketAddr, sip_port: u16, media_port: u16) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP {OPUS_PT} 0 101\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\n\
         a=fmtp:{OPUS_PT} useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
    );
    format!(
        "INVITE sip:{GREETER}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKop1\r\n\
         From: \"caller\" <sip:+15559876@127.0.0.1:{sip_port}>;tag=op1\r\nTo: <sip:{GREETER}@{to}>\r\n\
         Call-ID: opus-1@caller\r\nContact: <sip:caller@127.0.0.1:{sip_port}>\r\nMax-Forwards: 70\r\n\
         CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

fn in_dialog(method: &str, cseq: u32, to: SocketAddr, sip_port: u16, to_header: &str) -> Vec<u8> {
    format!(
        "{method} sip:{GREETER}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKop{cseq}{method}\r\n\
         From: \"caller\" <sip:+15559876@127.0.0.1:{sip_port}>;tag=op1\r\n{to_header}\r\n\
         Call-ID: opus-1@caller\r\nMax-Forwards: 70\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The first response with `status`, within five seconds.
async fn response(socket: &UdpSocket, status: &str) -> String {
    let mut buffer = vec![0_u8; 65_536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no {status} response"))
            .expect("recv");
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if text.starts_with(&format!("SIP/2.0 {status}")) {
            return text;
        }
    }
}

#[tokio::test]
async fn an_opus_caller_gets_opus_and_hears_the_greeting() {
    let trunk = Trunk::with_greeter(GREETER).await;
    let sip = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let media = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let sip_port = sip.local_addr().expect("addr").port();
    let media_port = media.local_addr().expect("addr").port();
    let to = trunk.addr();
    sip.send_to(&invite(to, sip_port, media_port), to)
        .await
        .expect("send");
    let ok = response(&sip, "200").await;
    assert!(
        ok.contains(&format!("a=rtpmap:{OPUS_PT} opus/48000/2\r\n")),
        "{ok}"
    );
    assert!(
        ok.contains(&format!(
            "a=fmtp:{OPUS_PT} useinbandfec=0;stereo=0;sprop-stereo=0\r\n"
        )),
        "{ok}"
    );
    let to_header = ok
        .split("\r\n")
        .find(|line| line.starts_with("To:"))
        .expect("a To header");
    sip.send_to(&in_dialog("ACK", 1, to, sip_port, to_header), to)
        .await
        .expect("send");

    let mut decoder = OpusDecoder::with_rate(SampleRate::Hz24k).expect("decoder");
    let (mut pcm, mut last): (Vec<i16>, Option<(u16, u32)>) = (Vec::new(), None);
    let mut steps = 0;
    let mut buffer = vec![0_u8; 2048];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, media.recv_from(&mut buffer)).await
    {
        let packet = &buffer[..n];
        assert!(n > 12 && packet[0] >> 6 == 2, "RTP version 2");
        assert_eq!(packet[1] & 0x7f, OPUS_PT, "the answered payload type");
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let marker = packet[1] & 0x80 != 0;
        if let Some((last_seq, last_ts)) = last
            && seq == last_seq.wrapping_add(1)
            && !marker
        {
            assert_eq!(timestamp.wrapping_sub(last_ts), 960, "48 kHz clock, 20 ms");
            steps += 1;
        }
        last = Some((seq, timestamp));
        decoder
            .decode(&packet[12..], &mut pcm)
            .expect("decodable Opus");
    }
    sip.send_to(&in_dialog("BYE", 2, to, sip_port, to_header), to)
        .await
        .expect("send");
    let _ = tokio::time::timeout(SETTLE * 5, response(&sip, "200")).await;
    assert!(steps >= 25, "a second of consecutive packets: {steps}");
    let loud = pcm
        .chunks(480)
        .filter(|window| rms_dbfs(window) > -40.0)
        .count();
    assert!(
        loud >= 25,
        "the greeting is heard: {loud} loud 20 ms windows of {}",
        pcm.len() / 480
    );
}

//! SIP trunk endpoint: a voxgate SIP endpoint on 127.0.0.1:0 beside an in-process server whose
//! calls reach the provider simulator; tenant `acme`, agent `desk`, number `+15550100`.
//!
//! Raw UDP checks (OPTIONS, the allow-list, malformed datagrams, the digest challenge) always
//! run. SIPp scenarios (`tests/peers/sip/*.xml`) and baresip (`sip/baresip.rs`) are skipped
//! with a printed reason when the tools are missing, unless `VOXGATE_TEST_REQUIRE_PEERS=1`.

mod baresip;
mod peer;

use crate::support::CallSetup;
use peer::{free_port, sipp, udp_exchange};
use std::{net::SocketAddr, time::Duration};
use voxgate::{
    config::SipConfig,
    transport::sip::{self, SipEndpoint},
};

pub const NUMBER: &str = "+15550100";

/// A SIP endpoint on a call setup.
pub struct Trunk {
    pub setup: CallSetup,
    pub endpoint: SipEndpoint,
}

impl Trunk {
    pub async fn start(configure: impl FnOnce(&mut SipConfig)) -> Self {
        let setup = CallSetup::start().await;
        let mut config = SipConfig {
            udp_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..SipConfig::default()
        };
        config.numbers.insert(NUMBER.into(), "acme/desk".into());
        configure(&mut config);
        let endpoint = sip::start(&config, setup.server.state.clone())
            .await
            .expect("binds")
            .expect("configured");
        Self { setup, endpoint }
    }

    pub fn addr(&self) -> SocketAddr {
        self.endpoint.local_addr
    }
}

pub fn options(branch: &str, port: u16) -> Vec<u8> {
    format!(
        "OPTIONS sip:{NUMBER}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\nCall-ID: {branch}@probe\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn status(answer: Option<&str>) -> Option<u16> {
    answer?.get(8..11)?.parse().ok()
}

#[tokio::test]
async fn an_options_ping_is_answered_200() {
    let trunk = Trunk::start(|_| {}).await;
    let port = trunk.addr().port();
    let answer = udp_exchange(trunk.addr(), &[options("z9hG4bKo1", port)]).await;
    assert_eq!(status(answer.first().map(String::as_str)), Some(200));
    if let Some(passed) = sipp(trunk.addr(), "options", NUMBER, &[]).await {
        assert!(passed, "sipp options scenario failed");
    }
}

#[tokio::test]
async fn a_source_outside_the_allow_list_gets_no_answer() {
    let trunk = Trunk::start(|config| {
        config.allowed_sources = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let port = trunk.addr().port();
    let answer = udp_exchange(trunk.addr(), &[options("z9hG4bKo2", port)]).await;
    assert!(
        answer.is_empty(),
        "answered from outside the allow-list: {answer:?}"
    );
}

#[tokio::test]
async fn a_burst_of_malformed_datagrams_gets_400s_or_silence_and_the_server_keeps_answering() {
    let trunk = Trunk::start(|_| {}).await;
    let port = trunk.addr().port();
    let good = String::from_utf8(options("z9hG4bKm0", port)).expect("utf-8");
    let mut burst: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\r\n\r\n".to_vec(),
        vec![0xff; 1400],
        b"INVITE\r\n\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        good.replace("CSeq: 1 OPTIONS", "CSeq: x").into_bytes(),
        good.replace("Content-Length: 0", "Content-Length: 99999")
            .into_bytes(),
        good.replace("Via: ", "Via SIP").into_bytes(),
        good.replace("SIP/2.0\r\n", "SIP/9.9\r\n").into_bytes(),
    ];
    burst.extend((1..200_u8).map(|i| good.as_bytes().iter().map(|b| b ^ i).collect()));
    let answers = udp_exchange(trunk.addr(), &burst).await;
    for answer in &answers {
        assert_eq!(status(Some(answer)), Some(400), "only 400s: {answer}");
    }
    assert!(
        answers.len() >= 2,
        "the answerable ones got 400: {answers:?}"
    );
    let after = udp_exchange(trunk.addr(), &[options("z9hG4bKm1", port)]).await;
    assert_eq!(status(after.first().map(String::as_str)), Some(200));
}

#[tokio::test]
async fn an_invite_without_credentials_is_challenged_401() {
    let trunk = Trunk::start(|config| {
        config.username = Some("trunk".into());
        config.password = Some(voxgate::secret::Secret::new("s3cret-pass"));
    })
    .await;
    let port = trunk.addr().port();
    let invite = String::from_utf8(options("z9hG4bKi1", port))
        .expect("utf-8")
        .replace("OPTIONS", "INVITE");
    let answer = udp_exchange(trunk.addr(), &[invite.into_bytes()]).await;
    let first = answer.first().map(String::as_str);
    assert_eq!(status(first), Some(401));
    assert!(first.is_some_and(|a| a.contains("WWW-Authenticate: Digest realm=\"voxgate\"")));
    if let Some(passed) = sipp(
        trunk.addr(),
        "auth",
        NUMBER,
        &["-au", "trunk", "-ap", "s3cret-pass"],
    )
    .await
    {
        assert!(passed, "sipp auth scenario failed");
    }
}

#[tokio::test]
async fn an_unknown_number_gets_404() {
    let trunk = Trunk::start(|_| {}).await;
    if let Some(passed) = sipp(trunk.addr(), "unknown_number", "+15550199", &[]).await {
        assert!(passed, "sipp unknown_number scenario failed");
    }
}

#[tokio::test]
async fn cancel_before_the_answer_gets_200_and_487() {
    let trunk = Trunk::start(|config| config.answer_after_ms = 3000).await;
    if let Some(passed) = sipp(trunk.addr(), "cancel", NUMBER, &[]).await {
        assert!(passed, "sipp cancel scenario failed");
    }
}

#[tokio::test]
async fn the_callers_bye_ends_an_answered_call() {
    let trunk = Trunk::start(|_| {}).await;
    if let Some(passed) = sipp(trunk.addr(), "caller_bye", NUMBER, &[]).await {
        assert!(passed, "sipp caller_bye scenario failed");
        let sim = &trunk.setup.sim;
        let connected =
            crate::support::poll_until(|| sim.log().connections.len(), |n| *n > 0).await;
        assert_eq!(connected, 1, "the answered call reached the provider");
    }
}

/// Needs the RTP media module: the stub answers but moves no audio.
#[tokio::test]
async fn a_callers_speech_over_rtp_reaches_the_provider() {
    let trunk = Trunk::start(|_| {}).await;
    let wav = format!("{}/speech-8k-ulaw.wav", crate::sim::client::fixtures_dir());
    if !std::path::Path::new(&wav).exists() {
        return crate::support::skip(&format!("fixture {wav} is missing"));
    }
    let media_port = free_port().to_string();
    let args = ["-key", "wav", wav.as_str(), "-mp", media_port.as_str()];
    if let Some(passed) = sipp(trunk.addr(), "call_rtp", NUMBER, &args).await {
        assert!(passed, "sipp call_rtp scenario failed");
        let sim = &trunk.setup.sim;
        let heard = crate::support::poll_until(|| sim.log().vad.len(), |n| *n > 0).await;
        assert!(
            heard > 0,
            "the provider heard no speech from the SIP caller"
        );
    }
}

pub(crate) const SETTLE: Duration = Duration::from_millis(300);

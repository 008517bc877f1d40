//! WebRTC signalling (`POST /v1/calls/webrtc`): bad offers and tokens are refused before any call
//! exists; the call secret ends a call; a peer that never connects is hung up. A real WebRTC peer
//! (aiortc) talks to an agent in `webrtc/aiortc.rs`.

mod aiortc;

use crate::{
    call_ws::ended_call,
    support::{CallSetup, error_code},
};
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

const FINGERPRINT: &str = "sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:\
                           8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC";

/// A browser-like offer with one media section (`m_line` + its `rtpmap`s) and a data channel.
fn offer(m_line: &str, rtpmaps: &[&str]) -> String {
    let common = format!(
        "c=IN IP4 0.0.0.0\r\na=ice-ufrag:Abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n\
         a=fingerprint:{FINGERPRINT}\r\na=setup:actpass\r\n"
    );
    let rtpmaps: String = rtpmaps
        .iter()
        .map(|m| format!("a=rtpmap:{m}\r\n"))
        .collect();
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
         {m_line}\r\n{common}a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n{rtpmaps}\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n{common}a=mid:1\r\na=sctp-port:5000\r\n"
    )
}

fn opus_offer() -> String {
    offer(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
        &["111 opus/48000/2", "0 PCMU/8000"],
    )
}

pub(crate) async fn token(call: &CallSetup, transport: &str) -> String {
    let body = json!({"agent": "desk", "transport": transport});
    let minted: Value = call
        .server
        .post("/v1/call-tokens", &call.key, &body)
        .await
        .json()
        .await
        .expect("json");
    minted["token"].as_str().expect("token").to_owned()
}

async fn post_offer(
    call: &CallSetup,
    token: Option<&str>,
    sdp: impl Into<reqwest::Body>,
) -> Response {
    let mut request = call
        .server
        .client
        .post(format!("{}/v1/calls/webrtc", call.server.base))
        .header(header::CONTENT_TYPE, "application/sdp")
        .body(sdp);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request sent")
}

async fn delete(call: &CallSetup, location: &str, secret: &str) -> StatusCode {
    let url = format!("{}{location}", call.server.base);
    let response = call
        .server
        .client
        .delete(url)
        .bearer_auth(secret)
        .send()
        .await;
    response.expect("request sent").status()
}

async fn call_count(call: &CallSetup) -> usize {
    let calls: Value = call
        .server
        .get("/v1/calls", &call.key)
        .await
        .json()
        .await
        .expect("json");
    calls["items"].as_array().map_or(usize::MAX, Vec::len)
}

#[tokio::test]
async fn bad_offers_and_tokens_are_refused_and_no_call_is_created() {
    let call = CallSetup::start().await;
    let token = token(&call, "webrtc").await;
    let video = offer("m=video 9 UDP/TLS/RTP/SAVPF 96", &["96 VP8/90000"]);
    let g722 = offer("m=audio 9 UDP/TLS/RTP/SAVPF 9", &["9 G722/8000"]);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"this is not SDP".to_vec(), 400, "webrtc.bad_sdp"),
        (vec![b'v'; 64 * 1024 + 1], 400, "webrtc.bad_sdp"),
        (video.into_bytes(), 400, "webrtc.no_audio"),
        (g722.into_bytes(), 400, "webrtc.no_common_codec"),
    ];
    for (body, status, code) in cases {
        let (got, got_code, body) = error_code(post_offer(&call, Some(&token), body).await).await;
        assert_eq!((got, got_code.as_str()), (status, code), "{body}");
    }
    let ws_token = crate::call_ws::token(&call).await;
    for bad in [None, Some("vct_forged.token"), Some(ws_token.as_str())] {
        let (status, code, body) = error_code(post_offer(&call, bad, opus_offer()).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "auth.invalid_call_token"),
            "{body}"
        );
    }
    let wrong_type = call
        .server
        .client
        .post(format!("{}/v1/calls/webrtc", call.server.base))
        .bearer_auth(&token)
        .json(&json!({"sdp": opus_offer()}))
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        call_count(&call).await,
        0,
        "no call record for a refused offer"
    );
    // Refusals did not spend the token.
    let answered = post_offer(&call, Some(&token), opus_offer()).await;
    assert_eq!(answered.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_call_secret_ends_the_call_and_nothing_else_does() {
    let call = CallSetup::start().await;
    let token = token(&call, "webrtc").await;
    let answered = post_offer(&call, Some(&token), opus_offer()).await;
    assert_eq!(answered.status(), StatusCode::CREATED);
    let headers = answered.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/sdp");
    let location = headers[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let secret = headers["x-voxgate-call-secret"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let answer = answered.text().await.expect("answer");
    assert!(
        answer.contains("m=audio") && answer.contains("opus/48000"),
        "{answer}"
    );
    assert!(
        answer.contains("a=ice-lite") && answer.contains("typ host"),
        "{answer}"
    );
    let call_id = location.trim_start_matches("/v1/calls/webrtc/").to_owned();
    // The spent token opens nothing more.
    let again = post_offer(&call, Some(&token), opus_offer()).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        delete(&call, &location, "vcs_wrong").await,
        StatusCode::UNAUTHORIZED
    );
    let unknown = format!("/v1/calls/webrtc/{}", uuid::Uuid::new_v4());
    assert_eq!(
        delete(&call, &unknown, &secret).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&call, &location, &secret).await,
        StatusCode::NO_CONTENT
    );
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["status"], "ended", "{stored}");
    assert_eq!(stored["call"]["transport"], "webrtc", "{stored}");
}

#[tokio::test]
async fn a_peer_that_never_connects_is_hung_up_after_15_seconds() {
    let call = CallSetup::start().await;
    let token = token(&call, "webrtc").await;
    let answered = post_offer(&call, Some(&token), opus_offer()).await;
    let location = answered.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let call_id = location.trim_start_matches("/v1/calls/webrtc/").to_owned();
    tokio::time::sleep(Duration::from_secs(16)).await;
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["end_reason"], "caller_hangup", "{stored}");
}

#[tokio::test]
async fn a_tenant_over_its_webrtc_cap_is_told_so_until_a_call_ends() {
    use voxgate::{config::WebRtcConfig, transport::webrtc::WebRtc};
    let call = CallSetup::start_with(|url| {
        let mut services = (*crate::support::call_services(url)).clone();
        services.webrtc = WebRtc::new(WebRtcConfig {
            max_calls_per_tenant: 1,
            ..WebRtcConfig::default()
        });
        std::sync::Arc::new(services)
    })
    .await;
    let first = post_offer(&call, Some(&token(&call, "webrtc").await), opus_offer()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let secret = first.headers()["x-voxgate-call-secret"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let second_token = token(&call, "webrtc").await;
    let (status, code, body) =
        error_code(post_offer(&call, Some(&second_token), opus_offer()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "webrtc.too_many_calls"),
        "{body}"
    );
    assert_eq!(
        delete(&call, &location, &secret).await,
        StatusCode::NO_CONTENT
    );
    // The slot comes back once the first call has closed; the refused token still works.
    let mut status = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..50 {
        status = post_offer(&call, Some(&second_token), opus_offer())
            .await
            .status();
        if status != StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::CREATED);
}

//! Outside SIP peers for the tests: raw UDP exchanges and SIPp runs.

use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::net::UdpSocket;

/// A UDP port free right now on loopback.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends each datagram from one socket, then collects every answer until 300 ms of quiet.
pub async fn udp_exchange(to: SocketAddr, datagrams: &[Vec<u8>]) -> Vec<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for datagram in datagrams {
        socket.send_to(datagram, to).await.expect("send");
    }
    let mut answers = Vec::new();
    let mut buffer = vec![0_u8; 65_536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(super::SETTLE, socket.recv_from(&mut buffer)).await
    {
        answers.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    answers
}

fn on_path(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `tool` is installed; a printed skip (or a failure under REQUIRE_PEERS) if not.
pub fn tool(tool: &str) -> bool {
    let found = on_path(tool);
    if !found {
        crate::support::skip(&format!(
            "`{tool}` is not installed (apt-get install sip-tester baresip-core)"
        ));
    }
    found
}

/// Runs `tests/peers/sip/<scenario>.xml` once against `to`, calling `service`; `None` when
/// sipp is missing, else whether the call succeeded (exit code 0).
pub async fn sipp(to: SocketAddr, scenario: &str, service: &str, extra: &[&str]) -> Option<bool> {
    if !tool("sipp") {
        return None;
    }
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/sip")
        .join(format!("{scenario}.xml"));
    let work = tempfile_dir();
    // rtp_stream does not expand `-key` values, so `[wav]` is written into a copy.
    let wav = extra
        .windows(3)
        .find(|w| w[0] == "-key" && w[1] == "wav")
        .map(|w| w[2]);
    let file = match wav {
        Some(wav) => {
            let text = std::fs::read_to_string(&file).expect("scenario");
            let copy = work.join(format!("{scenario}.xml"));
            std::fs::write(&copy, text.replace("[wav]", wav)).expect("scenario copy");
            copy
        }
        None => file,
    };
    let mut command = tokio::process::Command::new("sipp");
    command
        .current_dir(&work)
        .arg(to.to_string())
        .arg("-sf")
        .arg(&file)
        .args([
            "-s",
            service,
            "-m",
            "1",
            "-l",
            "1",
            "-i",
            "127.0.0.1",
            "-nostdin",
        ])
        .args([
            "-p",
            &free_port().to_string(),
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(["-trace_err", "-trace_msg"])
        .args(extra)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(45), command.output())
        .await
        .expect("sipp finishes within 45 s")
        .expect("sipp runs");
    let passed = output.status.success();
    if !passed {
        eprintln!(
            "sipp {scenario} exit {:?}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        for entry in std::fs::read_dir(&work).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            eprintln!(
                "--- {}\n{}",
                entry.path().display(),
                text.chars().take(6000).collect::<String>()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Some(passed)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voxgate-sipp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

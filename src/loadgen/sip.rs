//! The SIP callers of a load run: one SIPp process (Debian `sip-tester`) as the UAC, running
//! `tests/peers/sip/load.xml` (embedded in the binary): INVITE with a PCMU offer, ACK, the
//! fixture WAV looped over RTP (`rtp_stream`) for the call duration, then BYE.
//!
//! SIPp places `calls` calls evenly over the ramp (`-r calls -rp ramp`), at most `calls` at once.
//! Its verdict comes from its statistics file (`-trace_stat`, cumulative counters of the last
//! row) and its exit code; its first error from `-trace_err`. SIPp's statistics do not count RTP,
//! so packets sent are reckoned as 50 per second of each successful call (`rtp_stream` is paused
//! before the BYE, so the reckoning matches what went out).

use super::server::SIP_NUMBER;
use anyhow::Context;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

/// The scenario, with `[wav]` still to be replaced (SIPp's `rtp_stream` does not expand `-key`).
const SCENARIO: &str = include_str!("../../tests/peers/sip/load.xml");

/// First local port SIPp's RTP streams take (the child's are 20000-29999).
const MEDIA_PORT_BASE: u16 = 10000;

/// RTP packets a caller sends each second (20 ms ptime).
const PACKETS_PER_SECOND: u64 = 50;

/// What SIPp reported.
#[derive(Debug, Default)]
pub(super) struct SippStats {
    /// Calls SIPp placed.
    pub(super) attempted: u64,
    pub(super) successful: u64,
    pub(super) failed: u64,
    /// RTP packets the successful calls streamed (50 per second of call).
    pub(super) packets_sent: u64,
    /// SIPp's exit code (0: every call succeeded; 1: some failed).
    pub(super) exit_code: Option<i32>,
    /// The first line of SIPp's error log, if any.
    pub(super) first_error: Option<String>,
}

/// What a SIP run needs.
pub(super) struct Plan<'a> {
    pub(super) target: SocketAddr,
    pub(super) wav: &'a Path,
    pub(super) calls: usize,
    pub(super) ramp: Duration,
    pub(super) duration: Duration,
}

/// Fails with a clear message when SIPp is not installed.
pub(super) fn require_sipp() -> anyhow::Result<()> {
    match std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "`--transport sip` needs SIPp (`sipp` on PATH): apt-get install sip-tester"
        ),
        Err(error) => Err(error).context("running sipp -v"),
    }
}

/// Runs every call through one SIPp process and reads its statistics.
pub(super) async fn run(plan: &Plan<'_>) -> anyhow::Result<SippStats> {
    let wav = plan
        .wav
        .canonicalize()
        .with_context(|| format!("the SIP caller WAV {}", plan.wav.display()))?;
    let work = Work::new()?;
    let scenario = work.0.join("load.xml");
    std::fs::write(&scenario, SCENARIO.replace("[wav]", &wav.to_string_lossy()))?;
    let stat = work.0.join("stat.csv");
    let ramp_ms = plan.ramp.as_millis().max(1);
    let limit = plan.ramp + plan.duration + Duration::from_secs(60);
    let mut command = tokio::process::Command::new("sipp");
    command
        .current_dir(&work.0)
        .arg(plan.target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", SIP_NUMBER, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-mp", &MEDIA_PORT_BASE.to_string()])
        .args(["-d", &plan.duration.as_millis().to_string()])
        .args(["-r", &plan.calls.to_string(), "-rp", &ramp_ms.to_string()])
        .args(["-l", &plan.calls.to_string(), "-m", &plan.calls.to_string()])
        .args([
            "-timeout",
            &format!("{}s", limit.as_secs()),
            "-timeout_error",
        ])
        .args(["-nostdin", "-trace_err", "-trace_stat", "-fd", "1", "-stf"])
        .arg(&stat)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit + Duration::from_secs(30), command.output())
        .await
        .context("sipp did not finish in time")?
        .context("running sipp")?;
    let text = std::fs::read_to_string(&stat).unwrap_or_default();
    let Some(counters) = last_row(&text) else {
        anyhow::bail!(
            "sipp (exit {:?}) wrote no statistics: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    };
    let successful = counters("SuccessfulCall(C)");
    Ok(SippStats {
        attempted: counters("OutgoingCall(C)"),
        successful,
        failed: counters("FailedCall(C)"),
        packets_sent: successful * plan.duration.as_secs() * PACKETS_PER_SECOND,
        exit_code: output.status.code(),
        first_error: first_error(&work.0),
    })
}

/// The last row of SIPp's `;`-separated statistics, looked up by column name (0 when absent).
fn last_row(csv: &str) -> Option<impl Fn(&str) -> u64> {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let header: Vec<String> = lines.next()?.split(';').map(str::to_owned).collect();
    let row: Vec<String> = lines.next_back()?.split(';').map(str::to_owned).collect();
    Some(move |name: &str| {
        header
            .iter()
            .position(|column| column == name)
            .and_then(|at| row.get(at)?.trim().parse().ok())
            .unwrap_or(0)
    })
}

/// The first non-empty line of SIPp's `*_errors.log`, if it wrote one.
fn first_error(work: &Path) -> Option<String> {
    std::fs::read_dir(work)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with("_errors.log"))
        .find_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            text.lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with("sipp"))
                .map(str::to_owned)
        })
}

/// SIPp's working folder, removed afterwards.
struct Work(PathBuf);

impl Work {
    fn new() -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("voxgate-loadgen-sipp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_statistics_row_by_column() {
        let csv = "StartTime;SuccessfulCall(C);FailedCall(C);\n\
                   t0;0;0;\n\
                   t1;48;2;\n";
        let counters = last_row(csv).expect("a row");
        assert_eq!(counters("SuccessfulCall(C)"), 48);
        assert_eq!(counters("FailedCall(C)"), 2);
        assert_eq!(counters("Missing"), 0);
        assert!(last_row("header only\n").is_none());
    }

    #[test]
    fn the_scenario_streams_the_wav_and_hangs_up() {
        assert!(SCENARIO.contains("rtp_stream=\"[wav],-1,0\""));
        assert!(SCENARIO.contains("BYE [next_url]"));
    }
}

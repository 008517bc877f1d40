//! What a load run measured, and its Markdown rendering for BENCHMARKS.md.

use super::{LoadgenOptions, failover::FailoverStats, server::Sample, sip::SippStats};
use std::time::Duration;

/// One caller's results.
#[derive(Debug, Default)]
pub(super) struct CallerStats {
    pub(super) completed: bool,
    pub(super) error: Option<String>,
    pub(super) frames_sent: u64,
    pub(super) late_frames: u64,
    pub(super) agent_frames: u64,
    pub(super) turn_latencies: Vec<Duration>,
    /// How its stored call is found: the caller's number, or the call id where the transport
    /// has no caller number (WebRTC).
    pub(super) caller: String,
    /// Utterances the caller finished, each followed by its full pause.
    pub(super) utterances: u64,
}

impl CallerStats {
    pub(super) fn failed(error: &str) -> Self {
        Self {
            error: Some(error.to_owned()),
            ..Self::default()
        }
    }
}

pub(super) struct Report {
    lines: Vec<(String, String)>,
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank).copied()
}

fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    )
}

/// Sum of a Prometheus counter (every label set).
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with([' ', '{']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A quantile line of a Prometheus summary, e.g. `name{quantile="0.99"} 0.0012`.
fn quantile(metrics: &str, name: &str, q: &str) -> Option<f64> {
    let prefix = format!("{name}{{quantile=\"{q}\"}}");
    metrics
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

impl Report {
    pub(super) fn new(
        options: &LoadgenOptions,
        stats: &[CallerStats],
        baseline: Sample,
        peak: Sample,
        wall: Duration,
        metrics: &str,
    ) -> Self {
        let completed = stats.iter().filter(|s| s.completed).count();
        let sent: u64 = stats.iter().map(|s| s.frames_sent).sum();
        let late: u64 = stats.iter().map(|s| s.late_frames).sum();
        let received = counter(metrics, crate::telemetry::AUDIO_FRAMES_IN);
        let dropped = (sent as f64 - received).max(0.0);
        let mut latencies: Vec<Duration> = stats
            .iter()
            .flat_map(|s| s.turn_latencies.iter().copied())
            .collect();
        latencies.sort_unstable();
        let first_error = stats
            .iter()
            .find_map(|s| s.error.clone())
            .unwrap_or_default();
        let lines = vec![
            ("concurrent calls".into(), options.calls.to_string()),
            ("calls completed".into(), format!("{completed} / {}", options.calls)),
            ("caller frames sent / received by voxgate".into(), format!("{sent} / {received:.0}")),
            ("frames dropped (sent − received)".into(), format!("{dropped:.0}")),
            ("frames late at the caller (> 20 ms behind)".into(), late.to_string()),
            ("agent frames received".into(), stats.iter().map(|s| s.agent_frames).sum::<u64>().to_string()),
            ("turn latency p50 / p95 / p99 (end of speech → first agent audio, incl. simulator VAD 500 ms)".into(),
             format!("{} / {} / {}", ms(percentile(&latencies, 50.0)), ms(percentile(&latencies, 95.0)), ms(percentile(&latencies, 99.0)))),
        ];
        let mut report = Self { lines };
        report.add_voxgate(options, baseline, peak, wall, metrics);
        report.lines.push((
            "first caller error".into(),
            if first_error.is_empty() {
                "none".into()
            } else {
                first_error
            },
        ));
        report
    }

    /// A SIP run: SIPp's call counts, the RTP it streamed against what voxgate received.
    pub(super) fn sip(
        options: &LoadgenOptions,
        sipp: &SippStats,
        baseline: Sample,
        peak: Sample,
        wall: Duration,
        metrics: &str,
    ) -> Self {
        let received = counter(metrics, crate::telemetry::AUDIO_FRAMES_IN);
        let sent = sipp.packets_sent as f64;
        let out = counter(metrics, crate::telemetry::AUDIO_FRAMES_OUT);
        let exit = sipp
            .exit_code
            .map_or_else(|| "killed".to_owned(), |code| code.to_string());
        let lines = vec![
            ("concurrent calls (SIP, one SIPp UAC, PCMU over RTP)".into(), options.calls.to_string()),
            ("calls attempted / successful / failed (SIPp)".into(),
             format!("{} / {} / {} (sipp exit {exit})", sipp.attempted, sipp.successful, sipp.failed)),
            ("caller RTP packets sent (successful calls × duration × 50) / frames received by voxgate".into(),
             format!("{sent:.0} / {received:.0}")),
            ("frames dropped (sent − received; negative: received more)".into(), format!("{:.0}", sent - received)),
            ("agent frames sent by voxgate".into(), format!("{out:.0}")),
        ];
        let mut report = Self { lines };
        report.add_voxgate(options, baseline, peak, wall, metrics);
        report.lines.push((
            "first caller error (SIPp error log)".into(),
            sipp.first_error.clone().unwrap_or_else(|| "none".into()),
        ));
        report
    }

    /// voxgate's own figures: event handling, CPU and memory.
    fn add_voxgate(
        &mut self,
        options: &LoadgenOptions,
        baseline: Sample,
        peak: Sample,
        wall: Duration,
        metrics: &str,
    ) {
        let cpu_seconds = peak.cpu_ticks.saturating_sub(baseline.cpu_ticks) as f64 / 100.0;
        let per_call_kib =
            peak.rss_kib.saturating_sub(baseline.rss_kib) as f64 / options.calls as f64;
        let handling = crate::telemetry::EVENT_HANDLING_SECONDS;
        let added = |q: &str| {
            quantile(metrics, handling, q)
                .map_or("n/a".to_owned(), |s| format!("{:.3} ms", s * 1000.0))
        };
        self.lines.extend([
            (
                "voxgate event handling p50 / p99 (provider event → outputs handed on)".into(),
                format!("{} / {}", added("0.5"), added("0.99")),
            ),
            (
                "voxgate CPU (cores busy over the run)".into(),
                format!("{:.2}", cpu_seconds / wall.as_secs_f64()),
            ),
            (
                "voxgate memory: peak RSS / per call".into(),
                format!("{} MiB / {:.0} KiB", peak.rss_kib / 1024, per_call_kib),
            ),
        ]);
    }

    /// Adds a `--fault realtime-drop` run's failover figures.
    pub(super) fn add_failover(&mut self, stats: &[CallerStats], failover: &FailoverStats) {
        let spoken: u64 = stats.iter().map(|s| s.utterances).sum();
        let lost: u64 = stats
            .iter()
            .map(|s| {
                let stored = failover.stored_turns.get(&s.caller).copied().unwrap_or(0);
                s.utterances.saturating_sub(stored)
            })
            .sum();
        let stored: u64 = failover.stored_turns.values().sum();
        let p = |values: &[Duration], q: f64| ms(percentile(values, q));
        self.lines.extend([
            (
                "failovers (realtime dropped mid-answer → another path) / returns to realtime"
                    .into(),
                format!("{} / {}", failover.failovers, failover.recoveries),
            ),
            (
                "failure detected → new path in place, p50 / p99 / max".into(),
                format!(
                    "{} / {} / {}",
                    p(&failover.to_switch, 50.0),
                    p(&failover.to_switch, 99.0),
                    p(&failover.to_switch, 100.0)
                ),
            ),
            (
                "failure detected → first audio on the new path, p50 / p99 (caller was waiting)"
                    .into(),
                format!(
                    "{} / {} (n = {})",
                    p(&failover.to_first_audio, 50.0),
                    p(&failover.to_first_audio, 99.0),
                    failover.to_first_audio.len()
                ),
            ),
            (
                "caller utterances finished / user turns stored".into(),
                format!("{spoken} / {stored}"),
            ),
            (
                "lost utterances (per call: finished − stored, when positive)".into(),
                lost.to_string(),
            ),
        ]);
    }

    pub(super) fn markdown(&self) -> String {
        let mut out = String::from("| measure | value |\n|---|---|\n");
        for (name, value) in &self.lines {
            out.push_str(&format!("| {name} | {value} |\n"));
        }
        out
    }
}

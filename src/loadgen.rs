//! `voxgate loadgen`: many simulated phone callers against a real voxgate process, measured.
//!
//! It starts the provider simulator in its own process, spawns `voxgate serve` as a child on
//! loopback (so the child's CPU and memory are voxgate's alone), and runs N callers that each
//! place a Twilio call the way Twilio does: a signed voice webhook, then a media stream with
//! 20 ms μ-law frames at real-time pace from a fixture, echoing marks. It reports completed calls,
//! late and dropped frames, turn latency, voxgate's CPU and memory per call, and voxgate's own
//! event-handling latency (from its metrics). Targets are loopback only, by construction.
//! With `--transport webrtc` the callers are WebRTC clients instead (`webrtc.rs`): a call token,
//! an SDP offer to `POST /v1/calls/webrtc`, then Opus over DTLS-SRTP on loopback UDP.
//! With `--transport sip` one SIPp process places the calls over the child's SIP trunk (`sip.rs`):
//! INVITE, PCMU over RTP from a WAV fixture, BYE.

mod caller;
mod failover;
mod report;
mod server;
mod sip;
mod webrtc;

use crate::provider::sim::{ConnectFaults, Simulator, TurnFaults};
use anyhow::Context;
use report::{CallerStats, Report};
use std::{path::PathBuf, sync::Arc, time::Duration};

/// Most calls one run may place.
pub const MAX_CALLS: usize = 2000;

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadgenOptions {
    /// Concurrent calls.
    pub calls: usize,
    /// Seconds over which calls start, evenly.
    pub ramp_seconds: u64,
    /// Seconds each call lasts once started.
    pub duration_seconds: u64,
    /// Raw μ-law 8 kHz fixture the callers speak.
    pub fixture: PathBuf,
    /// μ-law 8 kHz WAV the SIP callers (SIPp `rtp_stream`) speak.
    pub sip_wav: PathBuf,
    /// The voxgate binary to spawn (default: this one).
    pub server_binary: PathBuf,
    /// A fault to inject, if any.
    pub fault: Option<Fault>,
    /// How the callers reach voxgate.
    pub transport: Transport,
}

/// How the simulated callers reach voxgate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// A signed Twilio voice webhook, then a Twilio media stream (μ-law over a WebSocket).
    #[default]
    Twilio,
    /// A WebRTC client: SDP offer over HTTP, Opus over DTLS-SRTP, events on a data channel.
    Webrtc,
    /// A SIP trunk caller (SIPp): INVITE with a PCMU offer, RTP from a WAV, BYE.
    Sip,
}

/// Faults a load run can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Every realtime answer's socket drops 300 ms in: every call fails over to the pipeline
    /// (and returns to realtime when the provider looks healthy again, to fail over again).
    RealtimeDrop,
}

/// Runs the load and prints the report (Markdown) to stdout.
pub async fn run(options: LoadgenOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_CALLS).contains(&options.calls),
        "--calls must be between 1 and {MAX_CALLS}"
    );
    anyhow::ensure!(
        options.duration_seconds >= 5,
        "--duration-seconds must be at least 5"
    );
    if options.transport == Transport::Sip {
        anyhow::ensure!(
            options.fault.is_none(),
            "--fault is not supported with --transport sip"
        );
        sip::require_sipp()?;
    }
    let simulator = Simulator::start("127.0.0.1:0".parse()?).await?;
    if options.fault == Some(Fault::RealtimeDrop) {
        simulator.set_connect_faults(ConnectFaults {
            realtime_response_faults: Some(TurnFaults {
                drop_socket_after_ms: Some(300),
                ..TurnFaults::default()
            }),
            ..ConnectFaults::default()
        });
    }
    let sip = options.transport == Transport::Sip;
    let server = server::Server::spawn(&options.server_binary, &simulator.base_url(), sip).await?;
    let outcome = if sip {
        run_sip(&options, &server).await
    } else {
        run_callers(&options, &server).await
    };
    server.stop().await;
    simulator.shutdown().await;
    println!("{}", outcome?.markdown());
    Ok(())
}

/// Places the SIP calls through SIPp and measures the child meanwhile.
async fn run_sip(options: &LoadgenOptions, server: &server::Server) -> anyhow::Result<Report> {
    let target = server
        .sip_addr()
        .context("the child was started without SIP")?;
    let baseline = server.sample()?;
    let sampler = server.start_sampling();
    let started = std::time::Instant::now();
    let sipp = sip::run(&sip::Plan {
        target,
        wav: &options.sip_wav,
        calls: options.calls,
        ramp: Duration::from_secs(options.ramp_seconds),
        duration: Duration::from_secs(options.duration_seconds),
    })
    .await;
    let wall = started.elapsed();
    let peak = sampler.stop().await;
    let metrics = server.metrics().await.unwrap_or_default();
    Ok(Report::sip(options, &sipp?, baseline, peak, wall, &metrics))
}

/// Runs the Twilio or WebRTC callers in this process and measures the child meanwhile.
async fn run_callers(options: &LoadgenOptions, server: &server::Server) -> anyhow::Result<Report> {
    let audio = std::fs::read(&options.fixture)
        .with_context(|| format!("reading {}", options.fixture.display()))?;
    anyhow::ensure!(
        audio.len() >= 8 * 3000,
        "the fixture needs at least 3 s of audio"
    );
    let webrtc = match options.transport {
        Transport::Twilio | Transport::Sip => None,
        Transport::Webrtc => Some(webrtc::Callers {
            base: server.target().base,
            api_key: failover::tenant_key(&server.target().base, server.admin_key()).await?,
            speech: Arc::new(webrtc::encode_fixture(&audio)?),
        }),
    };
    let audio = Arc::new(audio);
    let baseline = server.sample()?;
    let sampler = server.start_sampling();
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(options.calls);
    let gap = Duration::from_secs(options.ramp_seconds) / u32::try_from(options.calls)?;
    for index in 0..options.calls {
        let target = server.target();
        let audio = audio.clone();
        let duration = Duration::from_secs(options.duration_seconds);
        let webrtc = webrtc.clone();
        tasks.push(tokio::spawn(async move {
            match webrtc {
                Some(callers) => webrtc::place(index, &callers, duration).await,
                None => caller::place(index, &target, &audio, duration).await,
            }
        }));
        tokio::time::sleep(gap).await;
    }
    let mut stats = Vec::with_capacity(tasks.len());
    for task in tasks {
        stats.push(
            task.await
                .unwrap_or_else(|_| CallerStats::failed("caller task panicked")),
        );
    }
    let wall = started.elapsed();
    let peak = sampler.stop().await;
    let metrics = server.metrics().await.unwrap_or_default();
    let mut report = Report::new(options, &stats, baseline, peak, wall, &metrics);
    if options.fault.is_some() {
        let figures = failover::collect(&server.target().base, server.admin_key()).await?;
        report.add_failover(&stats, &figures);
    }
    Ok(report)
}

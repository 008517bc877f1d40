//! The voxgate child process under load: spawned on loopback with a throwaway data folder, one
//! agent and known keys; sampled from /proc (CPU ticks, resident memory). For SIP runs it also
//! listens for SIP on a loopback UDP port, with a config file routing [`SIP_NUMBER`] to the agent.

use anyhow::Context;
use rand::RngExt;
use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};
use tokio::{process::Child, sync::oneshot, task::JoinHandle};

/// Where the callers find the server, and the secrets they need.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// `http://127.0.0.1:PORT`
    pub(super) base: String,
    /// Signs the Twilio webhook.
    pub(super) twilio_token: String,
}

/// CPU and memory of the child at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Sample {
    /// utime + stime, in clock ticks (USER_HZ = 100 on Linux).
    pub(super) cpu_ticks: u64,
    /// Resident set size, KiB.
    pub(super) rss_kib: u64,
}

pub(super) struct Server {
    child: Child,
    pid: u32,
    target: Target,
    admin_key: String,
    sip: Option<SocketAddr>,
    _data: TempFolder,
}

/// The called number a SIP run dials; the child routes it to the `loadgen` agent.
pub(super) const SIP_NUMBER: &str = "+15550100";

/// The child's RTP ports in a SIP run: one per call, well clear of the callers' ports.
const SIP_RTP_PORTS: &str = "20000-29999";

struct TempFolder(std::path::PathBuf);

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

const AGENT: &str = "instructions = \"You are a load-test agent. Answer briefly.\"\n";

impl Server {
    /// Starts the child; with `sip`, SIP is on (see the module doc).
    pub(super) async fn spawn(
        binary: &Path,
        provider_base_url: &str,
        sip: bool,
    ) -> anyhow::Result<Self> {
        let folder = std::env::temp_dir().join(format!("voxgate-loadgen-{}", random_hex(6)));
        std::fs::create_dir_all(folder.join("agents"))?;
        std::fs::write(folder.join("agents/loadgen.toml"), AGENT)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let target = Target {
            base: format!("http://127.0.0.1:{port}"),
            twilio_token: random_hex(16),
        };
        let admin_key = random_hex(16);
        let mut command = tokio::process::Command::new(binary);
        command.env_clear();
        let sip = if sip {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()?));
            let file = folder.join("voxgate.toml");
            std::fs::write(
                &file,
                format!("[sip.numbers]\n\"{SIP_NUMBER}\" = \"loadgen\"\n"),
            )?;
            let most = super::MAX_CALLS.to_string();
            command
                .arg("--config")
                .arg(file)
                .env("VOXGATE_SIP_UDP_ADDR", addr.to_string())
                .env("VOXGATE_SIP_MAX_CALLS", &most)
                .env("VOXGATE_SIP_MAX_CALLS_PER_TENANT", &most)
                .env("VOXGATE_SIP_RTP_PORTS", SIP_RTP_PORTS);
            Some(addr)
        } else {
            None
        };
        let child = command
            .arg("serve")
            .env("PATH", "/usr/bin:/bin")
            .env("VOXGATE_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("VOXGATE_DATA_DIR", folder.join("data"))
            .env("VOXGATE_AGENTS_DIR", folder.join("agents"))
            .env("VOXGATE_OPENAI_API_KEY", "loadgen")
            .env("VOXGATE_OPENAI_BASE_URL", provider_base_url)
            .env("VOXGATE_TWILIO_AUTH_TOKEN", &target.twilio_token)
            .env("VOXGATE_ADMIN_KEY", &admin_key)
            .env(
                "VOXGATE_WEBRTC_MAX_CALLS_PER_TENANT",
                super::MAX_CALLS.to_string(),
            )
            .env("VOXGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let server = Self {
            child,
            pid,
            target,
            admin_key,
            sip,
            _data: TempFolder(folder),
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.target.base);
        for _ in 0..200 {
            if reqwest_get(&url).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("voxgate did not become healthy at {url}")
    }

    pub(super) fn target(&self) -> Target {
        self.target.clone()
    }

    /// Where the child listens for SIP, in a SIP run.
    pub(super) fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip
    }

    /// The child's admin key.
    pub(super) fn admin_key(&self) -> &str {
        &self.admin_key
    }

    pub(super) fn sample(&self) -> anyhow::Result<Sample> {
        sample(self.pid)
    }

    /// Samples every 500 ms until stopped; returns the peak memory and the last CPU reading.
    pub(super) fn start_sampling(&self) -> Sampler {
        let pid = self.pid;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = Sample::default();
            loop {
                if let Ok(now) = sample(pid) {
                    peak.cpu_ticks = now.cpu_ticks;
                    peak.rss_kib = peak.rss_kib.max(now.rss_kib);
                }
                tokio::select! {
                    _ = &mut stopped => return peak,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
        Sampler { stop, task }
    }

    /// The server's Prometheus text.
    pub(super) async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.target.base);
        let response = crate::outbound::http_client()
            .get(url)
            .bearer_auth(&self.admin_key)
            .send()
            .await?;
        Ok(response.text().await?)
    }

    pub(super) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn reqwest_get(url: &str) -> anyhow::Result<()> {
    crate::outbound::http_client()
        .get(url)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

pub(super) struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Sample>,
}

impl Sampler {
    pub(super) async fn stop(self) -> Sample {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

fn sample(pid: u32) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0);
    Ok(Sample {
        cpu_ticks: tick(11) + tick(12),
        rss_kib,
    })
}

//! The `voxgate` command line: `serve`, `migrate`, `agents validate`, `api-key create`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};
use voxgate::{agent_file, api_key, app, config::Config, telemetry};

/// voxgate: a realtime voice agent server that keeps the call going when the AI behind it fails.
///
/// Configuration comes from an optional TOML file (--config) and VOXGATE_* environment variables;
/// with none, voxgate runs on embedded SQLite (./data) and in-memory state.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML configuration file. Environment variables override it.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: apply migrations, load agents/*.toml, serve the HTTP API.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Work with agent definition files.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Mint API keys from the command line (no admin key needed: you have the database).
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Measure concurrent simulated calls (Twilio, WebRTC or SIP) against a voxgate child process
    /// (loopback only).
    Loadgen {
        /// Concurrent calls (at most 2000).
        #[arg(long, default_value_t = 10)]
        calls: usize,
        /// Seconds over which the calls start.
        #[arg(long, default_value_t = 10)]
        ramp_seconds: u64,
        /// Seconds each call lasts.
        #[arg(long, default_value_t = 30)]
        duration_seconds: u64,
        /// Raw 8 kHz μ-law audio the callers speak.
        #[arg(long, default_value = "../shared/fixtures/speech-8k.ulaw")]
        fixture: PathBuf,
        /// 8 kHz μ-law WAV the SIP callers (SIPp `rtp_stream`) speak, looped.
        #[arg(long, default_value = "../shared/fixtures/speech-8k-ulaw.wav")]
        sip_wav: PathBuf,
        /// Inject a fault: `realtime-drop` drops every realtime socket 300 ms into each answer,
        /// and the report adds failover times and lost utterances.
        #[arg(long, value_enum)]
        fault: Option<voxgate::loadgen::Fault>,
        /// How the callers reach voxgate: `twilio` (webhook + media stream), `webrtc`
        /// (SDP offer, Opus over DTLS-SRTP, events data channel) or `sip` (one SIPp process as
        /// the trunk caller: INVITE, PCMU over RTP, BYE; needs the Debian package sip-tester).
        #[arg(long, value_enum, default_value_t = voxgate::loadgen::Transport::Twilio)]
        transport: voxgate::loadgen::Transport,
    },
    /// Run the OpenAI Realtime provider simulator on 127.0.0.1 (Ctrl-C stops it).
    Sim {
        /// Port to listen on.
        #[arg(long, default_value_t = 8089)]
        port: u16,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// Check agent files (a folder of *.toml or one file) and report every problem.
    Validate {
        /// Folder or file. Default: the configured agents folder (./agents).
        path: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Mint a key for a tenant (created if missing) and print it once.
    Create {
        /// Tenant name. Default: the default tenant that owns agents/*.toml.
        #[arg(long)]
        tenant: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("voxgate: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("voxgate: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("voxgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => app::serve(config).await,
        Command::Loadgen {
            calls,
            ramp_seconds,
            duration_seconds,
            fixture,
            sip_wav,
            fault,
            transport,
        } => {
            let options = voxgate::loadgen::LoadgenOptions {
                calls,
                ramp_seconds,
                duration_seconds,
                fixture,
                sip_wav,
                fault,
                transport,
                server_binary: std::env::current_exe().context("locating the voxgate binary")?,
            };
            voxgate::loadgen::run(options).await
        }
        Command::Sim { port } => voxgate::provider::sim::run_foreground(port).await,
        Command::Migrate => {
            let durable = app::open_durable(&config).await?;
            println!("migrations applied ({})", durable.backend());
            Ok(())
        }
        Command::Agents {
            command: AgentsCommand::Validate { path },
        } => {
            let path = path.unwrap_or_else(|| config.agents_dir());
            let specs = agent_file::load_all(&path)?;
            for spec in &specs {
                println!("ok  {}", spec.name);
            }
            println!("{} agent(s) valid in {}", specs.len(), path.display());
            Ok(())
        }
        Command::ApiKey {
            command: ApiKeyCommand::Create { tenant, label },
        } => {
            let durable = app::open_durable(&config).await?;
            let name = tenant.unwrap_or_else(|| config.default_tenant().to_owned());
            let tenant = durable.ensure_tenant(&name).await?;
            let minted = api_key::mint(tenant.id, &label, voxgate::store::now());
            durable
                .insert_api_key(&minted.record)
                .await
                .context("storing the key")?;
            eprintln!(
                "tenant {} ({}), key id {}",
                tenant.name, tenant.id, minted.record.id
            );
            println!("{}", minted.key.expose());
            Ok(())
        }
    }
}

//! Wiring: opens the stores the config asks for, loads the agent files, and serves HTTP until
//! shutdown (Ctrl-C or SIGTERM).

use crate::{
    agent_file,
    config::Config,
    health::HealthRegistry,
    http::{self, AppState, CallServices},
    provider::{
        directory::{ProviderDirectory, ProviderEndpoint},
        sim::{SimHandle, Simulator},
    },
    secret::Secret,
    store::{
        Durable, Hot, memory::MemoryHot, postgres::PostgresStore, redis::RedisHot,
        sqlite::SqliteStore,
    },
    telemetry,
};
use anyhow::Context;
use std::{net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;

/// The two stores the server runs on.
#[derive(Clone)]
pub struct Stores {
    /// Source of truth.
    pub durable: Arc<dyn Durable>,
    /// Hot state.
    pub hot: Arc<dyn Hot>,
}

/// Opens the durable store: Postgres (migrated first) when a URL is set, else SQLite in the
/// data folder.
pub async fn open_durable(config: &Config) -> anyhow::Result<Arc<dyn Durable>> {
    match &config.database.url {
        Some(url) => {
            PostgresStore::migrate(url.expose())
                .await
                .context("applying Postgres migrations")?;
            let store = PostgresStore::connect(url.expose(), config.database.max_connections)
                .await
                .context("connecting to Postgres")?;
            Ok(Arc::new(store))
        }
        None => {
            let dir = config.data_dir();
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating data folder {}", dir.display()))?;
            let path = dir.join("voxgate.db");
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens the hot store: Redis when a URL is set, else process memory.
pub async fn open_hot(config: &Config) -> anyhow::Result<Arc<dyn Hot>> {
    match &config.redis.url {
        Some(url) => {
            let prefix = config.redis.key_prefix.as_deref().unwrap_or("voxgate:");
            let hot = RedisHot::connect(url.expose(), prefix)
                .await
                .context("connecting to Redis")?;
            Ok(Arc::new(hot))
        }
        None => Ok(Arc::new(MemoryHot::new())),
    }
}

/// Opens both stores.
pub async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    Ok(Stores {
        durable: open_durable(config).await?,
        hot: open_hot(config).await?,
    })
}

/// Loads `agents/*.toml` into the default tenant. Any invalid file stops the start.
pub async fn load_agent_files(config: &Config, durable: &dyn Durable) -> anyhow::Result<()> {
    let dir = config.agents_dir();
    if !dir.is_dir() {
        tracing::info!(agents_dir = %dir.display(), "No agents folder; skipping agent files.");
        return Ok(());
    }
    let specs = agent_file::load_all(&dir)?;
    let tenant = durable.ensure_tenant(config.default_tenant()).await?;
    for spec in &specs {
        let outcome = agent_file::sync(durable, tenant.id, spec).await?;
        tracing::info!(agent = %spec.name, tenant = %tenant.name, ?outcome, "Agent file loaded.");
    }
    Ok(())
}

/// What calls need: the providers (OpenAI when a key is configured, else an in-process
/// simulator, whose handle must live as long as the server), provider health (shared with the
/// other nodes through `hot` when it is Redis), the token key and the node name.
pub async fn call_services(
    config: &Config,
    hot: Arc<dyn Hot>,
) -> anyhow::Result<(Arc<CallServices>, Option<SimHandle>)> {
    let token_key = config.call_token_key.clone().unwrap_or_else(|| {
        let bytes: [u8; 32] = rand::random();
        Secret::new(hex::encode(bytes))
    });
    let node = format!("voxgate-{}", std::process::id());
    let (directory, simulator) = match &config.providers.openai.api_key {
        Some(key) => {
            let endpoint = ProviderEndpoint {
                name: "openai".to_owned(),
                base_url: config.providers.openai.base_url.clone(),
                api_key: key.clone(),
            };
            (ProviderDirectory::new(endpoint), None)
        }
        None => {
            let simulator = Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .context("starting the provider simulator")?;
            let endpoint = ProviderEndpoint {
                name: "sim".to_owned(),
                base_url: simulator.base_url(),
                api_key: Secret::new("simulator"),
            };
            (ProviderDirectory::stand_in(endpoint), Some(simulator))
        }
    };
    let directory =
        config
            .providers
            .endpoints
            .iter()
            .fold(directory, |directory, (name, endpoint)| {
                directory.with(ProviderEndpoint {
                    name: name.clone(),
                    base_url: endpoint.base_url.clone(),
                    api_key: endpoint.api_key.clone(),
                })
            });
    let health = HealthRegistry::new(
        node.clone(),
        Default::default(),
        Default::default(),
        Some(hot),
    );
    let services = CallServices {
        providers: directory,
        health,
        stage_timeouts: Default::default(),
        token_key,
        node,
        public_url: config.public_url.clone(),
        twilio_auth_token: config.twilio.auth_token.clone(),
        default_tenant: config.default_tenant().to_owned(),
        // OpenAI Realtime caps a session at 60 minutes.
        provider_session_max: std::time::Duration::from_secs(55 * 60),
        webrtc: crate::transport::webrtc::WebRtc::new(config.webrtc.clone()),
    };
    Ok((Arc::new(services), simulator))
}

/// Runs the server until shutdown.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let stores = open_stores(&config).await?;
    load_agent_files(&config, stores.durable.as_ref()).await?;
    let (calls, _simulator) = call_services(&config, stores.hot.clone()).await?;
    let provider = match calls.providers.default_name() {
        "sim" => "simulator (no VOXGATE_OPENAI_API_KEY set)".to_owned(),
        other => other.to_owned(),
    };
    if config.call_token_key.is_none() && config.redis.url.is_some() {
        tracing::warn!("No call token key configured: tokens minted on one node fail on others.");
    }
    let webrtc = calls
        .webrtc
        .start()
        .await
        .with_context(|| format!("binding the WebRTC UDP socket {}", config.webrtc.udp_addr))?;
    let state = AppState {
        durable: stores.durable.clone(),
        hot: stores.hot.clone(),
        admin_key: config.admin_key.clone(),
        metrics: telemetry::metrics_handle(),
        calls,
    };
    if state.admin_key.is_none() {
        tracing::warn!(
            "No admin key configured: tenants and keys can be created only with the CLI."
        );
    }
    let sip = crate::transport::sip::start(&config.sip, state.clone())
        .await
        .with_context(|| format!("binding the SIP UDP socket {:?}", config.sip.udp_addr))?;
    let router = http::router(state, config.http.body_limit_bytes);
    let listener = TcpListener::bind(config.http.addr)
        .await
        .with_context(|| format!("binding {}", config.http.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        durable = stores.durable.backend(),
        hot = stores.hot.backend(),
        provider,
        %webrtc,
        sip = sip.as_ref().map_or_else(|| "off".to_owned(), |s| s.local_addr.to_string()),
        "voxgate listening."
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    wait_for_calls(config.shutdown_grace()).await;
    if let Some(sip) = sip {
        sip.stop().await;
    }
    tracing::info!("voxgate stopped.");
    Ok(())
}

/// New connections have stopped; let calls in progress end by themselves, up to `grace`.
async fn wait_for_calls(grace: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    let mut logged = false;
    while crate::driver::active_calls() > 0 && tokio::time::Instant::now() < deadline {
        if !logged {
            let calls = crate::driver::active_calls();
            tracing::info!(calls, "Waiting for calls in progress to end.");
            logged = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let left = crate::driver::active_calls();
    if left > 0 {
        tracing::warn!(
            calls = left,
            "Shutdown grace period over; ending calls in progress."
        );
        crate::driver::end_all_calls();
        // Each call writes its end record and closes its sockets; give that a moment.
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while crate::driver::active_calls() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("Shutdown requested; finishing in-flight requests.");
}

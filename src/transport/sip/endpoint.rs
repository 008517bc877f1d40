//! The SIP endpoint's IO: one UDP socket and one task that feeds datagrams, commands and time
//! into the [`Uas`], sends what it asks, drops datagrams from sources outside
//! `sip.allowed_sources` unanswered, and starts a task per new call.

use super::{
    call::{self, Command, Setup, TenantSlots},
    uas::{CallRef, EndCause, Event, Output, Settings, Uas},
};
use crate::{config::SipConfig, http::AppState, telemetry, transport::sip::digest};
use std::{collections::HashMap, io, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
    time::Instant,
};

/// How long Retry-After asks a refused trunk to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "5";

/// The running endpoint.
#[derive(Debug)]
pub struct SipEndpoint {
    /// The bound signalling address.
    pub local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SipEndpoint {
    /// Refuses new calls (503), hangs up those in progress, and stops once their BYEs are
    /// answered or after a few seconds.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Binds `config.udp_addr` and starts the endpoint; `None` when SIP is not configured.
pub async fn start(config: &SipConfig, state: AppState) -> io::Result<Option<SipEndpoint>> {
    let Some(addr) = config.udp_addr else {
        return Ok(None);
    };
    let socket = UdpSocket::bind(addr).await?;
    let local_addr = socket.local_addr()?;
    let public_ip = config
        .public_ip
        .unwrap_or(if local_addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            local_addr.ip()
        });
    let auth = match (&config.username, &config.password) {
        (Some(username), Some(password)) => Some(digest::DigestAuth::new(digest::Credentials {
            username: username.clone(),
            password: password.clone(),
            realm: config.realm.clone(),
        })),
        _ => None,
    };
    if auth.is_none() && !config.allowed_sources.is_empty() {
        tracing::warn!("SIP digest authentication is off: any allowed source may place calls.");
    }
    let settings = Settings {
        contact_host: SocketAddr::new(public_ip, local_addr.port()).to_string(),
        auth,
    };
    let (command_tx, commands) = mpsc::channel(1024);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let bind_ip = if local_addr.ip().is_unspecified() {
        local_addr.ip()
    } else {
        public_ip
    };
    let endpoint = Endpoint {
        socket,
        uas: Uas::new(settings, Instant::now().into_std()),
        config: Arc::new(config.clone()),
        setup: Setup {
            state,
            config: Arc::new(config.clone()),
            rtp_ip: bind_ip,
            public_ip,
            commands: command_tx,
            slots: Arc::new(TenantSlots::default()),
        },
        calls: HashMap::new(),
        commands,
        draining: false,
    };
    let task = tokio::spawn(endpoint.run(shutdown_rx));
    tracing::info!(%local_addr, "SIP endpoint listening (UDP).");
    Ok(Some(SipEndpoint {
        local_addr,
        shutdown,
        task,
    }))
}

struct Endpoint {
    socket: UdpSocket,
    uas: Uas,
    config: Arc<SipConfig>,
    setup: Setup,
    calls: HashMap<CallRef, Option<oneshot::Sender<()>>>,
    commands: mpsc::Receiver<(CallRef, Command)>,
    draining: bool,
}

impl Endpoint {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut buffer = vec![0_u8; 65_536];
        let mut drain_until = None;
        loop {
            self.flush().await;
            if drain_until.is_some_and(|until| Instant::now() >= until)
                || (self.draining && self.calls.is_empty() && self.uas.calls() == 0)
            {
                break;
            }
            let deadline = self
                .uas
                .poll_timeout()
                .map(Instant::from_std)
                .into_iter()
                .chain(drain_until)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((length, source)) => self.datagram(source, buffer.get(..length).unwrap_or_default()),
                    Err(error) => tracing::debug!(%error, "SIP socket receive failed."),
                },
                Some((call, command)) = self.commands.recv() => self.apply(call, command),
                () = tokio::time::sleep_until(deadline) => {
                    self.uas.handle_timeout(Instant::now().into_std());
                }
                changed = shutdown.changed(), if !self.draining => {
                    let _ = changed;
                    self.draining = true;
                    drain_until = Some(Instant::now() + Duration::from_secs(4));
                    let calls: Vec<CallRef> = self.calls.keys().copied().collect();
                    for call in calls {
                        self.uas.hangup(Instant::now().into_std(), call);
                    }
                }
            }
        }
        tracing::info!("SIP endpoint stopped.");
    }

    fn datagram(&mut self, source: SocketAddr, bytes: &[u8]) {
        if !self.config.allows(source.ip()) {
            telemetry::record_sip_dropped("source");
            return;
        }
        self.uas
            .handle_datagram(Instant::now().into_std(), source, bytes);
    }

    fn apply(&mut self, call: CallRef, command: Command) {
        let now = Instant::now().into_std();
        match command {
            Command::Ring => self.uas.ring(now, call),
            Command::Accept { answer, reoffer } => self.uas.accept(now, call, answer, reoffer),
            Command::Reject { code, retry_after } => {
                let extra: Vec<(&str, String)> = retry_after
                    .then(|| ("Retry-After", RETRY_AFTER_SECONDS.to_owned()))
                    .into_iter()
                    .collect();
                self.uas.reject(now, call, code, &extra);
            }
            Command::Hangup => self.uas.hangup(now, call),
            Command::Refer { target } => self.uas.refer(now, call, &target),
            Command::Done => {
                self.calls.remove(&call);
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(output) = self.uas.poll_output() {
            match output {
                Output::Transmit { to, bytes } => {
                    if let Err(error) = self.socket.send_to(&bytes, to).await {
                        tracing::debug!(%error, %to, "SIP send failed.");
                    }
                }
                Output::Event(Event::Invite(invite)) => self.invite(invite),
                Output::Event(Event::Ended { call, cause }) => {
                    if let Some(stop) = self.calls.get_mut(&call).and_then(Option::take) {
                        let _ = stop.send(());
                    }
                    if cause != EndCause::HungUp {
                        tracing::debug!(
                            call = call.0,
                            ?cause,
                            "SIP call ended by the caller side."
                        );
                    }
                }
            }
        }
    }

    fn invite(&mut self, invite: super::uas::Invite) {
        let call = invite.call;
        let now = Instant::now().into_std();
        let full = self.calls.len() >= self.config.max_calls as usize;
        if self.draining || full {
            let extra = [("Retry-After", RETRY_AFTER_SECONDS.to_owned())];
            self.uas.reject(now, call, 503, &extra);
            return;
        }
        let (stop, stop_rx) = oneshot::channel();
        self.calls.insert(call, Some(stop));
        tokio::spawn(call::run(self.setup.clone(), invite, stop_rx));
    }
}

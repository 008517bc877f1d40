//! One SIP call from the INVITE to the end: route the called number to an agent, check the
//! limits, negotiate the SDP, ring, start the session with [`start_call`], run the media, and
//! hang up (BYE) or transfer (REFER) when the session says so. Tells the endpoint what to send
//! through [`Command`]s; never logs numbers.

use super::{
    media::{self, MediaEnd, SdpError},
    uas::{CallRef, Invite, ReofferCheck},
};
use crate::{
    call_token::{Audience, CallGrant},
    config::SipConfig,
    http::AppState,
    store::StoreError,
    transport::{CallOptions, start_call_with},
};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// What a call task asks the endpoint to do.
pub(super) enum Command {
    /// Send 180 Ringing.
    Ring,
    /// Answer with this SDP.
    Accept {
        /// The SDP answer.
        answer: Vec<u8>,
        /// Checks re-INVITE offers.
        reoffer: ReofferCheck,
    },
    /// Refuse with this code (and `Retry-After` when asked).
    Reject {
        /// 4xx-6xx.
        code: u16,
        /// Add `Retry-After`.
        retry_after: bool,
    },
    /// Send BYE.
    Hangup,
    /// Send REFER to this target, then BYE.
    Refer {
        /// A SIP URI.
        target: String,
    },
    /// The call task has finished.
    Done,
}

/// What every call task shares.
#[derive(Clone)]
pub(super) struct Setup {
    /// Stores and call services.
    pub(super) state: AppState,
    /// `[sip]`.
    pub(super) config: Arc<SipConfig>,
    /// Address RTP sockets bind to.
    pub(super) rtp_ip: IpAddr,
    /// Address put in the SDP answer.
    pub(super) public_ip: IpAddr,
    /// To the endpoint.
    pub(super) commands: mpsc::Sender<(CallRef, Command)>,
    /// Calls per tenant.
    pub(super) slots: Arc<TenantSlots>,
}

/// SIP calls per tenant on this node.
#[derive(Debug, Default)]
pub(super) struct TenantSlots {
    counts: Mutex<HashMap<Uuid, u32>>,
}

/// One tenant's call slot, given back on drop.
struct Slot {
    slots: Arc<TenantSlots>,
    tenant: Uuid,
}

impl TenantSlots {
    fn reserve(self: &Arc<Self>, tenant: Uuid, cap: u32) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(tenant).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: self.clone(),
            tenant,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}

/// Why a call is refused: the status code, and whether to ask for a retry later.
struct Refusal {
    code: u16,
    retry_after: bool,
    why: &'static str,
}

const fn refuse(code: u16, why: &'static str) -> Refusal {
    Refusal {
        code,
        retry_after: code == 503,
        why,
    }
}

/// A call that passed every check, ready to ring.
struct Admitted {
    grant: CallGrant,
    agent: voxgate_core::AgentSpec,
    socket: tokio::net::UdpSocket,
    answer: String,
    negotiated: media::Negotiated,
    /// Our RTP address and SDP version, to check re-offers against.
    local_rtp: SocketAddr,
    version: u64,
    /// The number dialled, stored with the call.
    called: Option<String>,
    /// Where the INVITE came from (RTP from there may latch).
    signalling: IpAddr,
    _slot: Slot,
}

/// Sends [`Command::Done`] when dropped while armed: a call task that panics (or is aborted)
/// still frees its entry in the endpoint. A `try_send`, since a drop cannot wait.
struct DoneGuard {
    commands: mpsc::Sender<(CallRef, Command)>,
    call: CallRef,
    armed: bool,
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.try_send((self.call, Command::Done));
        }
    }
}

/// Runs one call's task; always ends with [`Command::Done`], even when it panics.
pub(super) async fn run(setup: Setup, invite: Invite, stop: oneshot::Receiver<()>) {
    let call = invite.call;
    let mut guard = DoneGuard {
        commands: setup.commands.clone(),
        call,
        armed: true,
    };
    let send = |command| setup.commands.send((call, command));
    match admit(&setup, invite).await {
        Ok(admitted) => {
            let end = answer_and_run(&setup, call, admitted, stop).await;
            match end {
                Some(
                    MediaEnd::SessionEnded(_)
                    | MediaEnd::MediaTimeout
                    | MediaEnd::DriverGone
                    | MediaEnd::CodecFailed,
                ) => {
                    let _ = send(Command::Hangup).await;
                }
                Some(MediaEnd::Transfer { target }) => {
                    let _ = send(Command::Refer { target }).await;
                }
                Some(MediaEnd::Stopped) | None => {}
            }
        }
        Err(refusal) => {
            tracing::info!(
                call = call.0,
                code = refusal.code,
                reason = refusal.why,
                "SIP call refused."
            );
            let command = Command::Reject {
                code: refusal.code,
                retry_after: refusal.retry_after,
            };
            let _ = send(command).await;
        }
    }
    if send(Command::Done).await.is_ok() {
        guard.armed = false;
    }
}

async fn tenant_id(state: &AppState, name: Option<&str>) -> Result<Uuid, Refusal> {
    let name = name.unwrap_or(&state.calls.default_tenant);
    let tenants = state
        .durable
        .list_tenants()
        .await
        .map_err(|_| refuse(503, "store unavailable"))?;
    tenants
        .into_iter()
        .find(|tenant| tenant.name == name)
        .map(|tenant| tenant.id)
        .ok_or(refuse(404, "tenant not found"))
}

async fn admit(setup: &Setup, invite: Invite) -> Result<Admitted, Refusal> {
    let config = &setup.config;
    let called = invite.called.as_deref().unwrap_or_default();
    let route = config
        .route(called)
        .ok_or(refuse(404, "number not routed"))?;
    let tenant = tenant_id(&setup.state, route.tenant).await?;
    let agent = match setup.state.durable.get_agent(tenant, route.agent).await {
        Ok(record) => record.spec,
        Err(StoreError::NotFound) => return Err(refuse(404, "agent not found")),
        Err(_) => return Err(refuse(503, "store unavailable")),
    };
    let slot = setup
        .slots
        .reserve(tenant, config.max_calls_per_tenant)
        .ok_or(refuse(503, "tenant at its SIP call limit"))?;
    let socket = media::bind_rtp(setup.rtp_ip, config.rtp_ports.0.clone())
        .await
        .map_err(|_| refuse(503, "no free RTP port"))?;
    let port = socket
        .local_addr()
        .map_err(|_| refuse(500, "RTP socket"))?
        .port();
    let local_rtp = SocketAddr::new(setup.public_ip, port);
    let version = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .unsigned_abs();
    let (answer, negotiated) = media::answer(&invite.offer, local_rtp, version)
        .map_err(|error: SdpError| refuse(error.status(), error.code()))?;
    let grant = CallGrant {
        tenant_id: tenant,
        agent: agent.name.clone(),
        expires_at: time::OffsetDateTime::now_utc().unix_timestamp() + 60,
        nonce: Uuid::new_v4(),
        audience: Audience::Sip,
        caller: invite.caller,
    };
    Ok(Admitted {
        grant,
        agent,
        socket,
        answer,
        negotiated,
        local_rtp,
        version,
        called: invite.called,
        signalling: invite.source.ip(),
        _slot: slot,
    })
}

/// Rings, answers, and runs the media; `None` when the caller left before the answer.
async fn answer_and_run(
    setup: &Setup,
    call: CallRef,
    admitted: Admitted,
    mut stop: oneshot::Receiver<()>,
) -> Option<MediaEnd> {
    let _ = setup.commands.send((call, Command::Ring)).await;
    let ring = Duration::from_millis(setup.config.answer_after_ms);
    tokio::select! {
        () = tokio::time::sleep(ring) => {}
        _ = &mut stop => return None,
    }
    let Admitted {
        grant,
        agent,
        socket,
        answer,
        negotiated,
        local_rtp,
        version,
        called,
        signalling,
        _slot,
    } = admitted;
    let caller = grant.caller.clone();
    let started = start_call_with(
        &setup.state,
        &grant,
        &agent,
        media::leg::session_format(negotiated.codec),
        "sip",
        caller,
        CallOptions {
            can_transfer: true,
            called,
        },
    )
    .await;
    tracing::info!(call = call.0, call_id = %started.call_id, agent = %agent.name, "SIP call answered.");
    let check = negotiated.clone();
    let reoffer: ReofferCheck =
        Box::new(move |offer| media::reanswer(offer, &check, local_rtp, version).is_ok());
    let accept = Command::Accept {
        answer: answer.into_bytes(),
        reoffer,
    };
    let _ = setup.commands.send((call, accept)).await;
    let (events, commands) = (started.events, started.commands);
    Some(media::run(socket, negotiated, signalling, events, commands, stop).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_call_task_still_reports_done() {
        let (commands, mut received) = mpsc::channel(4);
        let task = tokio::spawn(async move {
            let _guard = DoneGuard {
                commands,
                call: CallRef(7),
                armed: true,
            };
            panic!("a bug in the call task");
        });
        assert!(task.await.is_err(), "the task panicked");
        let done = received.recv().await;
        assert!(matches!(done, Some((CallRef(7), Command::Done))));
        assert!(received.recv().await.is_none(), "nothing else was sent");
    }

    #[tokio::test]
    async fn a_disarmed_guard_sends_nothing() {
        let (commands, mut received) = mpsc::channel(4);
        drop(DoneGuard {
            commands,
            call: CallRef(7),
            armed: false,
        });
        assert!(received.recv().await.is_none());
    }
}

//! The call's provider link: sending commands (and noticing a stalled link), renewing the
//! provider session in the background and switching to the new one, and, when the call ends
//! mid-response, waiting briefly for that response's usage before closing.

use super::{Call, SEND_TIMEOUT, USAGE_LINGER};
use crate::provider::{ProviderLink, openai_realtime::ConnectError};
use tokio::{sync::mpsc, time::Instant};
use voxgate_core::session::{ErrorClass, PersistCommand, ProviderCommand, ProviderEvent};

impl Call {
    /// After the session closed: record the usage of a response cancelled by the call's end
    /// (providers bill it), then close the provider link.
    pub(super) async fn settle_usage(&mut self) {
        if !self.close_deferred {
            return;
        }
        let deadline = Instant::now() + USAGE_LINGER;
        while let Ok(Some(event)) =
            tokio::time::timeout_at(deadline, self.provider.events.recv()).await
        {
            match event {
                ProviderEvent::ResponseDone { usage, .. } => {
                    if let Some(usage) = usage {
                        self.persist(PersistCommand::Usage(usage));
                    }
                    break;
                }
                ProviderEvent::Closed { .. } => break,
                _ => {}
            }
        }
        let _ = self.provider.commands.try_send(ProviderCommand::Close);
    }

    /// Swaps in a renewed provider session (already seeded), closing the old one.
    pub(super) fn switch_provider(
        &mut self,
        generation: u64,
        renewal: Result<ProviderLink, ConnectError>,
    ) {
        let now = Instant::now().into_std();
        if generation != self.generation || !self.provider_open {
            // The call switched paths meanwhile: this session is not needed.
            if let Ok(link) = renewal {
                let _ = link.commands.try_send(ProviderCommand::Close);
            }
            return;
        }
        match renewal {
            Ok(link) => {
                let old = std::mem::replace(&mut self.provider, link);
                let _ = old.commands.try_send(ProviderCommand::Close);
                self.provider_open = true;
                self.session.handle_provider(now, ProviderEvent::Renewed);
            }
            Err(error) => {
                tracing::warn!(call_id = %self.context.call_id, code = error.code, "Provider session renewal failed.");
                self.session
                    .handle_provider(now, ProviderEvent::RenewFailed);
            }
        }
    }

    /// Connects and seeds a fresh provider session in its own task.
    pub(super) fn renew(&self, seed: Vec<ProviderCommand>) {
        let paths = self.context.paths.clone();
        let (path, generation) = (self.path, self.generation);
        let done = self.renewal_done.clone();
        tokio::spawn(async move {
            let result = paths.open(path).await;
            let result = match result {
                Ok(link) => {
                    for command in seed {
                        let _ = link.commands.send(command).await;
                    }
                    Ok(link)
                }
                Err(error) => Err(error),
            };
            let _ = done.send((generation, result)).await;
        });
    }

    pub(super) async fn send_to_provider(&mut self, command: ProviderCommand) {
        if self.provider_stalled {
            return;
        }
        match command {
            ProviderCommand::CancelResponse => self.cancel_sent = true,
            // Keep the link open a moment: the cancelled response's usage is still to come.
            ProviderCommand::Close if self.cancel_sent && self.provider_open => {
                self.close_deferred = true;
                return;
            }
            _ => {}
        }
        // A closed link reports itself as `Closed` on its event channel.
        let sent = self
            .provider
            .commands
            .send_timeout(command, SEND_TIMEOUT)
            .await;
        if let Err(mpsc::error::SendTimeoutError::Timeout(_)) = sent {
            tracing::warn!(call_id = %self.context.call_id, "Provider link stalled.");
            self.provider_stalled = true;
            let now = Instant::now().into_std();
            let closed = ProviderEvent::Closed {
                class: ErrorClass::Retryable,
            };
            self.session.handle_provider(now, closed);
        }
    }
}

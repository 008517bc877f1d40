//! A peer's `events` data channel: the JSON events of the native WebSocket, kept until the
//! channel opens; opened by voxgate when the client offered data channels but opened none.

use super::EVENTS_LABEL;
use crate::transport::ws::message::{ClientMessage, ServerMessage};
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};
use str0m::{
    Rtc,
    channel::{ChannelConfig, ChannelId},
};
use voxgate_core::session::ClientEvent;

/// Connected this long without the client opening `events`: voxgate opens it.
const GRACE: Duration = Duration::from_secs(1);
/// Events kept for a channel that is not open yet.
const MAX_PENDING: usize = 256;

/// The channel's state.
pub(super) struct EventsChannel {
    offered: bool,
    id: Option<ChannelId>,
    requested: bool,
    pending: VecDeque<String>,
}

impl EventsChannel {
    /// `offered`: the offer had a data channel section.
    pub(super) fn new(offered: bool) -> Self {
        Self {
            offered,
            id: None,
            requested: false,
            pending: VecDeque::new(),
        }
    }

    /// Sends a message, or keeps it until the channel opens (a mutation: drain next).
    pub(super) fn say(&mut self, rtc: &mut Rtc, message: &ServerMessage) {
        let text = message.to_text();
        if let Some(id) = self.id
            && let Some(mut channel) = rtc.channel(id)
            && channel.write(false, text.as_bytes()).unwrap_or(false)
        {
            return;
        }
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(text);
    }

    /// A channel opened; if it is `events`, what was kept goes out.
    pub(super) fn opened(&mut self, rtc: &mut Rtc, id: ChannelId, label: &str) {
        if label != EVENTS_LABEL || self.id.is_some() {
            return;
        }
        self.id = Some(id);
        while let Some(text) = self.pending.pop_front() {
            let written = rtc
                .channel(id)
                .is_some_and(|mut channel| channel.write(false, text.as_bytes()).unwrap_or(false));
            if !written {
                self.pending.push_front(text);
                break;
            }
        }
    }

    /// A channel closed.
    pub(super) fn closed(&mut self, id: ChannelId) {
        if self.id == Some(id) {
            self.id = None;
        }
    }

    /// Whether `id` is the `events` channel.
    pub(super) fn is(&self, id: ChannelId) -> bool {
        self.id == Some(id)
    }

    /// When voxgate opens the channel itself, if it still has to.
    pub(super) fn fallback_at(&self, connected_at: Option<Instant>) -> Option<Instant> {
        let waiting = self.offered && self.id.is_none() && !self.requested;
        connected_at.filter(|_| waiting).map(|at| at + GRACE)
    }

    /// Opens `events` from voxgate's side once due; true when it did (a mutation: drain next).
    pub(super) fn open_if_due(
        &mut self,
        rtc: &mut Rtc,
        now: Instant,
        connected_at: Option<Instant>,
    ) -> bool {
        if self.fallback_at(connected_at).is_none_or(|at| now < at) {
            return false;
        }
        self.requested = true;
        let config = ChannelConfig {
            label: EVENTS_LABEL.to_owned(),
            ..ChannelConfig::default()
        };
        rtc.direct_api().create_data_channel(config);
        true
    }
}

/// What a client message on the channel asks for: `hangup` and `dtmf` as on the native
/// WebSocket; anything else is ignored (marks are voxgate's own business here).
pub(super) fn client_event(text: &[u8]) -> Option<ClientEvent> {
    match serde_json::from_slice::<ClientMessage>(text) {
        Ok(ClientMessage::Hangup {}) => Some(ClientEvent::Hangup),
        Ok(ClientMessage::Dtmf { digit }) if digit.is_ascii_digit() || "*#".contains(digit) => {
            Some(ClientEvent::Dtmf(digit))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_may_hang_up_and_send_digits_and_nothing_else() {
        assert_eq!(
            client_event(br#"{"type":"hangup"}"#),
            Some(ClientEvent::Hangup)
        );
        assert_eq!(
            client_event(br##"{"type":"dtmf","digit":"#"}"##),
            Some(ClientEvent::Dtmf('#'))
        );
        for ignored in [
            &br#"{"type":"dtmf","digit":"x"}"#[..],
            br#"{"type":"mark","mark":1}"#,
            b"junk",
        ] {
            assert_eq!(client_event(ignored), None);
        }
    }

    #[test]
    fn voxgate_opens_the_channel_only_when_offered_and_after_the_grace() {
        let now = Instant::now();
        assert_eq!(EventsChannel::new(false).fallback_at(Some(now)), None);
        let offered = EventsChannel::new(true);
        assert_eq!(offered.fallback_at(None), None, "not before connecting");
        assert_eq!(offered.fallback_at(Some(now)), Some(now + GRACE));
    }
}

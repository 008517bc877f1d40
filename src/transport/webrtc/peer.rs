//! One WebRTC call inside the endpoint: its `Rtc`, its audio both ways (`peer/audio.rs`), its
//! `events` data channel, and its lifecycle with the ICE timeouts.
//!
//! Sans-IO: the endpoint hands it datagrams, session commands and the time; it hands back
//! datagrams to send. It never waits: events for the session go out with `try_send`, and only
//! caller audio is ever dropped (when the session falls 5 s behind). Every mutation of the `Rtc`
//! is followed by a full drain of `poll_output`, as str0m requires.

mod audio;
mod channel;

use crate::{telemetry, transport::ws::message::ServerMessage};
use audio::Audio;
pub(super) use audio::SESSION_FORMAT;
use channel::EventsChannel;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use str0m::{Event, IceConnectionState, Input, Output, Rtc, media::MediaKind};
use tokio::sync::mpsc::{self, error::TrySendError};
use uuid::Uuid;
use voxgate_core::session::{ClientCommand, ClientEvent};

/// No ICE + DTLS connection this long after the answer ends the call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Disconnected (by ICE, or silent: no datagram at all) this long ends the call.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After the session is over, the connection stays this long so the last events arrive.
const LINGER: Duration = Duration::from_millis(500);
/// The data channel label that carries the call's JSON events.
pub(super) const EVENTS_LABEL: &str = "events";

/// A datagram to send.
pub(super) type Datagram = (SocketAddr, Vec<u8>);

/// What a new peer starts with.
pub(super) struct NewPeer {
    /// The call.
    pub call_id: Uuid,
    /// The negotiated `Rtc` (answer made, not yet polled).
    pub rtc: Rtc,
    /// The ICE ufrag of our answer: the peer's STUN checks name it.
    pub ufrag: String,
    /// Events for the session.
    pub events: mpsc::Sender<ClientEvent>,
    /// `started`, sent when the data channel opens.
    pub started: ServerMessage,
    /// The call's mode, sent after `started`.
    pub mode: &'static str,
    /// Whether the offer had a data channel section.
    pub data_channel: bool,
}

/// One call's WebRTC state.
pub(super) struct Peer {
    call_id: Uuid,
    rtc: Rtc,
    events: mpsc::Sender<ClientEvent>,
    audio: Audio,
    created: Instant,
    rtc_due: Instant,
    connected_at: Option<Instant>,
    last_heard: Instant,
    disconnected_since: Option<Instant>,
    channel: EventsChannel,
    hung_up: bool,
    close_at: Option<Instant>,
}

impl Peer {
    /// A peer for a negotiated call; drains the `Rtc` once.
    pub(super) fn new(new: NewPeer, now: Instant, out: &mut Vec<Datagram>) -> Self {
        let mut peer = Self {
            call_id: new.call_id,
            rtc: new.rtc,
            events: new.events,
            audio: Audio::default(),
            created: now,
            rtc_due: now,
            connected_at: None,
            last_heard: now,
            disconnected_since: None,
            channel: EventsChannel::new(new.data_channel),
            hung_up: false,
            close_at: None,
        };
        peer.drain(now, out);
        peer.say(now, &new.started, out);
        peer.say(now, &ServerMessage::Mode { mode: new.mode }, out);
        peer
    }

    /// Whether a datagram belongs to this call.
    pub(super) fn accepts(&self, input: &Input<'_>) -> bool {
        self.rtc.is_alive() && self.rtc.accepts(input)
    }

    /// Feeds a datagram this peer accepts.
    pub(super) fn receive(&mut self, now: Instant, input: Input<'_>, out: &mut Vec<Datagram>) {
        self.last_heard = now;
        if let Err(error) = self.rtc.handle_input(input) {
            tracing::debug!(call_id = %self.call_id, %error, "WebRTC input refused.");
        }
        self.drain(now, out);
    }

    /// Carries out a session command.
    pub(super) fn command(
        &mut self,
        now: Instant,
        command: ClientCommand,
        out: &mut Vec<Datagram>,
    ) {
        match &command {
            // After a hang-up nothing is played, and no mark says otherwise.
            ClientCommand::Audio { chunk, mark } if !self.hung_up => self.audio.queue(chunk, *mark),
            ClientCommand::ClearPlayback => {
                let dropped_ms = self.audio.clear();
                tracing::debug!(call_id = %self.call_id, dropped_ms, "Playback cleared.");
            }
            _ => {}
        }
        if let Some(message) = ServerMessage::from_command(&command)
            && !matches!(message, ServerMessage::Mark { .. })
        {
            self.say(now, &message, out);
        }
        self.pace(now, out);
    }

    /// Sends (or keeps) an event on the data channel, then drains.
    fn say(&mut self, now: Instant, message: &ServerMessage, out: &mut Vec<Datagram>) {
        self.channel.say(&mut self.rtc, message);
        self.drain(now, out);
    }

    /// Advances time: str0m's timers, the audio pace, the ICE timeouts.
    pub(super) fn tick(&mut self, now: Instant, out: &mut Vec<Datagram>) {
        if now >= self.rtc_due && self.rtc.is_alive() {
            if let Err(error) = self.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(call_id = %self.call_id, %error, "WebRTC timeout handling failed.");
            }
            self.drain(now, out);
        }
        self.pace(now, out);
        if self
            .channel
            .open_if_due(&mut self.rtc, now, self.connected_at)
        {
            self.drain(now, out);
        }
        if let Some(why) = self.timed_out(now) {
            tracing::info!(call_id = %self.call_id, why, "WebRTC connection lost; ending the call.");
            self.hang_up();
        }
    }

    /// The next instant [`Peer::tick`] has something to do.
    pub(super) fn next_wake(&self) -> Instant {
        let mut wake = self.rtc_due;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = wake.min(at);
            }
        };
        consider(self.audio.next_due());
        consider(self.close_at);
        if !self.hung_up {
            match self.connected_at {
                None => consider(Some(self.created + CONNECT_TIMEOUT)),
                Some(_) => {
                    consider(Some(self.last_heard + DISCONNECT_TIMEOUT));
                    consider(
                        self.disconnected_since
                            .map(|since| since + DISCONNECT_TIMEOUT),
                    );
                    consider(self.channel.fallback_at(self.connected_at));
                }
            }
        }
        wake
    }

    /// Tells the session the caller is gone (once); the call ends through the session.
    pub(super) fn hang_up(&mut self) {
        if !self.hung_up {
            self.hung_up = true;
            self.audio.clear();
            self.notify(ClientEvent::Hangup);
        }
    }

    /// The session is over: close shortly, after the last events are out.
    pub(super) fn driver_done(&mut self, now: Instant) {
        self.hung_up = true;
        self.close_at.get_or_insert(now + LINGER);
    }

    /// Whether the endpoint can drop this peer.
    pub(super) fn is_finished(&self, now: Instant) -> bool {
        self.close_at
            .is_some_and(|at| now >= at || !self.rtc.is_alive())
    }

    /// Closes the connection (DTLS close_notify where str0m sends one).
    pub(super) fn close(&mut self, now: Instant, out: &mut Vec<Datagram>) {
        self.drain(now, out);
        self.rtc.disconnect();
    }

    fn timed_out(&self, now: Instant) -> Option<&'static str> {
        if self.hung_up {
            return None;
        }
        match self.connected_at {
            None if now >= self.created + CONNECT_TIMEOUT => Some("no connection within 15 s"),
            Some(_) if now >= self.last_heard + DISCONNECT_TIMEOUT => Some("silent for 10 s"),
            Some(_)
                if self
                    .disconnected_since
                    .is_some_and(|s| now >= s + DISCONNECT_TIMEOUT) =>
            {
                Some("disconnected for 10 s")
            }
            _ if !self.rtc.is_alive() => Some("the connection closed"),
            _ => None,
        }
    }

    fn pace(&mut self, now: Instant, out: &mut Vec<Datagram>) {
        while let Some(frame) = self.audio.pop_due(now) {
            if let Err(error) = self.audio.write(&mut self.rtc, &frame) {
                tracing::debug!(call_id = %self.call_id, %error, "Agent audio frame not sent.");
            }
            self.drain(now, out);
            for mark in frame.marks {
                self.notify(ClientEvent::MarkPlayed(mark));
            }
        }
    }

    fn notify(&self, event: ClientEvent) {
        match self.events.try_send(event) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(ClientEvent::Audio(_))) => {
                tracing::debug!(call_id = %self.call_id, "Session behind; caller audio dropped.");
            }
            Err(TrySendError::Full(event)) => {
                // Marks and hang-ups must arrive: wait for room off the endpoint's task.
                let events = self.events.clone();
                tokio::spawn(async move {
                    let _ = events.send(event).await;
                });
            }
        }
    }

    /// Polls the `Rtc` until it only has a timeout left.
    fn drain(&mut self, now: Instant, out: &mut Vec<Datagram>) {
        loop {
            if !self.rtc.is_alive() {
                self.rtc_due = now + Duration::from_secs(1);
                return;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.rtc_due = at;
                    return;
                }
                Ok(Output::Transmit(transmit)) => {
                    out.push((transmit.destination, transmit.contents.into()));
                }
                Ok(Output::Event(event)) => self.event(now, event),
                Err(error) => {
                    tracing::info!(call_id = %self.call_id, %error, "WebRTC connection failed.");
                    self.rtc.disconnect();
                    self.hang_up();
                }
            }
        }
    }

    fn event(&mut self, now: Instant, event: Event) {
        match event {
            Event::MediaAdded(media) if media.kind == MediaKind::Audio => {
                self.audio.set_mid(media.mid);
                self.start_sending(now);
            }
            Event::Connected => {
                self.connected_at = Some(now);
                tracing::info!(call_id = %self.call_id, "WebRTC connected.");
                self.start_sending(now);
            }
            Event::IceConnectionStateChange(state) => {
                self.disconnected_since = match state {
                    IceConnectionState::Disconnected => self.disconnected_since.or(Some(now)),
                    _ => None,
                };
            }
            Event::MediaData(data) if !self.hung_up => {
                // Every packet counts as received, whether the jitter buffer plays it now, later
                // (with others in one chunk) or never (too late).
                metrics::counter!(telemetry::AUDIO_FRAMES_IN).increment(1);
                if let Some(chunk) = self.audio.incoming(&data) {
                    self.notify(ClientEvent::Audio(chunk));
                }
            }
            Event::ChannelOpen(id, label) => self.channel.opened(&mut self.rtc, id, &label),
            Event::ChannelData(data) if self.channel.is(data.id) && !data.binary => {
                match channel::client_event(&data.data) {
                    Some(ClientEvent::Hangup) => self.hang_up(),
                    Some(event) => self.notify(event),
                    None => {}
                }
            }
            Event::ChannelClose(id) => self.channel.closed(id),
            Event::Closed => self.hang_up(),
            _ => {}
        }
    }

    /// Starts agent audio once connected and the audio section is known (str0m reports the
    /// section after `Connected`).
    fn start_sending(&mut self, now: Instant) {
        if self.connected_at.is_some()
            && self.audio.send_codec().is_none()
            && self.audio.start(&mut self.rtc, now)
        {
            let codec = self.audio.send_codec().map(|codec| codec.name());
            tracing::debug!(call_id = %self.call_id, codec, "Sending agent audio.");
        }
    }
}

//! One call's dialog (RFC 3261 §12) from the UAS side: the identifiers and route taken from the
//! INVITE, where the call stands, and how to build the requests voxgate sends in it (BYE,
//! REFER).

use super::{
    super::message::{Message, NameAddr, Writer},
    transaction::TxKey,
};
use std::net::SocketAddr;

/// Whether a new offer (re-INVITE) can keep the media as negotiated.
pub type ReofferCheck = Box<dyn Fn(&[u8]) -> bool + Send>;

/// Where the call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DialogState {
    /// INVITE received, not answered yet (100/180 sent).
    Proceeding,
    /// 200 OK sent; waiting for the ACK.
    Answered,
    /// ACK received: the call is up.
    Confirmed,
    /// voxgate sent BYE (or REFER then BYE) and waits for the answer.
    Ending,
}

/// A dialog voxgate is the UAS of.
pub(super) struct Dialog {
    /// Call-ID.
    pub(super) call_id: String,
    /// Our tag (To in requests we receive, From in those we send).
    pub(super) local_tag: String,
    /// The INVITE, to build its responses from.
    pub(super) invite: Message,
    /// The INVITE's server transaction.
    pub(super) invite_tx: TxKey,
    /// Where the call stands.
    pub(super) state: DialogState,
    /// A transaction whose 2xx waits for an ACK (the INVITE's, or a re-INVITE's), with its
    /// CSeq number: only an ACK with that number acknowledges it.
    pub(super) awaiting_ack: Option<(TxKey, u32)>,
    /// voxgate wants to hang up before the ACK came (RFC 3261 §15: BYE waits for it).
    pub(super) bye_pending: bool,
    /// voxgate wants to transfer before the ACK came: the REFER target.
    pub(super) refer_pending: Option<String>,
    /// The SDP answer sent, reused for re-INVITEs.
    pub(super) answer: Option<Vec<u8>>,
    /// Checks re-offers against the negotiated media.
    pub(super) reoffer: Option<ReofferCheck>,
    /// Where requests in the dialog go: where the INVITE came from (symmetric signalling).
    pub(super) peer: SocketAddr,
    /// CSeq of our next request.
    pub(super) local_cseq: u32,
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialog")
            .field("state", &self.state)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Dialog {
    /// The dialog an INVITE (already checked) opens.
    pub(super) fn new(invite: Message, invite_tx: TxKey, local_tag: String) -> Self {
        Self {
            call_id: invite.header("Call-ID").unwrap_or_default().to_owned(),
            local_tag,
            peer: invite_tx.source,
            invite,
            invite_tx,
            state: DialogState::Proceeding,
            awaiting_ack: None,
            bye_pending: false,
            refer_pending: None,
            answer: None,
            reoffer: None,
            local_cseq: 1,
        }
    }

    /// Whether a request's To tag names this dialog.
    pub(super) fn matches(&self, request: &Message) -> bool {
        request.header("Call-ID") == Some(self.call_id.as_str())
            && request
                .header("To")
                .and_then(NameAddr::parse)
                .and_then(|to| to.tag())
                == Some(self.local_tag.as_str())
    }

    /// A request in this dialog: Request-URI is the caller's Contact (else its From URI),
    /// Route is the INVITE's Record-Route set.
    pub(super) fn request(
        &mut self,
        method: &str,
        via_host: &str,
        branch: &str,
        extra: &[(&str, String)],
    ) -> Vec<u8> {
        let invite = &self.invite;
        let from = invite.header("From").unwrap_or_default();
        let to = invite.header("To").unwrap_or_default();
        let target = invite
            .header("Contact")
            .and_then(NameAddr::parse)
            .or_else(|| NameAddr::parse(from))
            .map_or("sip:invalid", |addr| addr.uri);
        let cseq = self.local_cseq;
        self.local_cseq += 1;
        let mut writer = Writer::request(method, target)
            .header(
                "Via",
                &format!("SIP/2.0/UDP {via_host};branch={branch};rport"),
            )
            .header("Max-Forwards", "70")
            .header("From", &format!("{to};tag={}", self.local_tag))
            .header("To", from)
            .header("Call-ID", &self.call_id)
            .header("CSeq", &format!("{cseq} {method}"));
        for route in invite.headers_named("Record-Route") {
            writer = writer.header("Route", route);
        }
        for (name, value) in extra {
            writer = writer.header(name, value);
        }
        writer.finish()
    }
}

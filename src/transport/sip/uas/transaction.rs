//! Transactions over UDP (RFC 3261 §17): the responses a server transaction has sent (to answer
//! retransmitted requests and to retransmit INVITE final responses until the ACK), and the
//! requests voxgate sends (BYE, REFER), retransmitted until a final response.
//!
//! Timers only: the UAS decides what a timer firing means.

use super::CallRef;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

/// RFC 3261 T1: the round-trip estimate.
pub(super) const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the longest retransmit interval.
pub(super) const T2: Duration = Duration::from_secs(4);
/// 64·T1: how long a transaction is kept (Timers B, F, H, J).
pub(super) const TX_LIFETIME: Duration = Duration::from_secs(32);

/// A server transaction: top Via branch, method (ACK and CANCEL match INVITE's) and source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct TxKey {
    /// The top Via's branch.
    pub(super) branch: String,
    /// The request method.
    pub(super) method: String,
    /// Where the request came from.
    pub(super) source: SocketAddr,
}

/// A resend schedule: T1, doubling up to T2, until `until`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    /// The next resend.
    pub(super) next: Instant,
    interval: Duration,
    /// When to give up.
    pub(super) until: Instant,
}

impl Backoff {
    /// A schedule starting `now`.
    pub(super) fn start(now: Instant) -> Self {
        Self {
            next: now + T1,
            interval: T1,
            until: now + TX_LIFETIME,
        }
    }

    /// Moves to the next resend after one at `now`.
    pub(super) fn advance(&mut self, now: Instant) {
        self.interval = (self.interval * 2).min(T2);
        self.next = now + self.interval;
    }
}

/// What a server transaction remembers.
#[derive(Debug)]
pub(super) struct ServerTx {
    /// The last response sent, resent when the request comes again.
    pub(super) response: Option<Vec<u8>>,
    /// The call it belongs to, for INVITE and in-dialog requests.
    pub(super) call: Option<CallRef>,
    /// Final INVITE responses are resent until the ACK arrives.
    pub(super) resend: Option<Backoff>,
    /// Whether the final response was a 2xx (its ACK comes in a new transaction).
    pub(super) success: bool,
    /// Dropped after this; `None` while an INVITE still waits for its final response.
    pub(super) expires: Option<Instant>,
}

/// Which request a client transaction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientKind {
    /// Ends the dialog.
    Bye,
    /// Transfers the caller; a BYE follows whatever the answer.
    Refer,
}

/// A request voxgate sent, resent until a final response or [`TX_LIFETIME`].
#[derive(Debug)]
pub(super) struct ClientTx {
    /// The call.
    pub(super) call: CallRef,
    /// What it is.
    pub(super) kind: ClientKind,
    /// The bytes to resend.
    pub(super) request: Vec<u8>,
    /// Where to.
    pub(super) to: SocketAddr,
    /// The schedule.
    pub(super) backoff: Backoff,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resends_double_from_t1_up_to_t2() {
        let start = Instant::now();
        let mut backoff = Backoff::start(start);
        let mut gaps = Vec::new();
        let mut last = start;
        for _ in 0..6 {
            gaps.push(backoff.next - last);
            last = backoff.next;
            backoff.advance(last);
        }
        let ms: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(backoff.until - start, Duration::from_secs(32));
    }
}

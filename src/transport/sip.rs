//! SIP trunk calls: a UDP user agent server (UAS) that a carrier or PBX trunk sends phone
//! calls to. INVITE → 100 → 180 → 200 with an SDP answer; ACK; BYE either way; CANCEL; OPTIONS
//! keep-alives; re-INVITE with the same media; digest authentication; RFC 3261 timers.
//!
//! - `message`: parsing and writing SIP messages.
//! - `digest`: the 401 challenge and the check of `Authorization`.
//! - `uas`: the sans-IO transaction and dialog layer (unit-tested on virtual time).
//! - `endpoint`: the socket, the clock and the source allow-list around the UAS.
//! - `call`: one call from routing (`sip.numbers`) to hang-up: limits, agent lookup, SDP,
//!   `start_call`, media.
//! - `media`: RTP and SDP (G.711), behind a small API.
//!
//! Off unless `sip.udp_addr` is set. Caller and called numbers are personal data: never
//! logged. Owns no session logic: the driver and the session decide.

mod call;
pub mod digest;
mod endpoint;
pub mod media;
pub mod message;
pub mod uas;

pub use endpoint::{SipEndpoint, start};

//! Transports: each turns one wire protocol's frames into session events and session commands
//! back into frames. No business decisions live here; the session makes them.
//!
//! - [`ws`]: voxgate's native WebSocket (`GET /v1/calls/ws`), JSON control + binary PCM16.

pub mod ws;

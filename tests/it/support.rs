//! Shared test harness: peers (Postgres, Redis) with per-test isolation, and an in-process server.

#![allow(dead_code)]

mod call;
mod peers;
mod server;

pub use call::*;
pub use peers::*;
pub use server::*;

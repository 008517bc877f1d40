//! voxgate-core: the sans-IO heart of voxgate.
//!
//! This crate owns the domain: agent specs and their validation, the failure taxonomy and incident
//! records, and (in later steps) the per-call session state machine, failover policy, guards and
//! audio DSP. It must never touch a socket, a file, a database, a runtime or the clock: time is an
//! argument and IO is an output value. Its Cargo.toml lists no tokio, axum, sqlx, redis, reqwest,
//! tungstenite or str0m, and a test in the server crate checks that it stays so.

pub mod agent;
pub mod audio;
pub mod failover;
pub mod incident;
pub mod session;

pub use agent::{AgentSpec, FieldError};
pub use incident::{FailureMode, Incident, Severity};

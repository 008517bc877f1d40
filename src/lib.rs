//! voxgate: a realtime voice agent server that keeps the call going when the AI behind it fails.
//!
//! This crate is the IO shell around `voxgate-core` (the sans-IO domain). Its map:
//!
//! - [`config`]: the one typed config tree; the only reader of the environment.
//! - [`app`]: wiring: stores, agent files, the HTTP server and shutdown.
//! - [`http`]: the axum API (tenants, keys, agents, calls, incidents, usage, health, metrics).
//! - [`store`]: the durable (Postgres | SQLite) and hot (Redis | memory) stores.
//! - [`agent_file`]: `agents/*.toml` loading and validation.
//! - [`api_key`]: minting and verifying API keys (salted hashes only are stored).
//! - [`secret`]: the redacting wrapper for secrets.
//! - [`telemetry`]: logging, metrics and metric names.
//! - [`driver`]: the per-call run loop joining session, transport and provider.
//! - [`provider`]: the OpenAI Realtime client and the provider simulator.
//! - [`transport`]: wire protocols of callers (native WebSocket).
//! - [`call_token`]: single-use call tokens for clients that must not hold API keys.
//! - [`demo_link`]: signed, expiring links that let a browser try one agent (the demo page).

pub mod agent_file;
pub mod api_key;
pub mod app;
pub mod call_token;
pub mod config;
pub mod demo_link;
pub mod driver;
pub mod health;
pub mod http;
pub mod loadgen;
pub mod outbound;
pub mod provider;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod transport;

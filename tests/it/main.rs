//! Integration tests: one binary (one link) with a module per feature.
//!
//! Tests that need Postgres or Redis read `VOXGATE_TEST_DATABASE_URL` / `VOXGATE_TEST_REDIS_URL`.
//! Without them they print why and pass trivially, unless `VOXGATE_TEST_REQUIRE_PEERS=1` (set by
//! `.ci/run`), which turns every such skip into a failure.

#![allow(unreachable_pub)]

mod agents_shipped;
mod api;
mod architecture;
mod bad_input;
mod browser;
mod call_carrier;
mod call_ws;
mod failover;
mod isolation;
mod serve;
mod sim;
mod sip;
mod store_durable;
mod store_hot;
mod support;
mod webrtc;
mod widget;

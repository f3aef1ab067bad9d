//! End-to-end tests: each starts the real `tael` binary on port 0 and talks
//! to it with real clients (tonic gRPC, HTTP protobuf/JSON/gzip, the CLI).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod agent_questions;
mod analytics;
mod bad_input;
mod disk_full;
mod durability;
mod fixtures;
mod incident;
mod ingest;
mod jaeger;
mod live;
mod live_tui;
mod llm;
mod load_tool;
mod mcp;
mod memory_budget;
mod prom_compat;
mod readme;
mod rest_cli;
mod runaway;
mod skill;
mod support;
mod text_search;

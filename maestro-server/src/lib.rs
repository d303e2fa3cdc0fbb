//! `maestro-server` as a library: everything testable lives here; `main.rs` only parses the
//! command line and calls [`app::serve`].

pub mod app;
pub mod approvals;
pub mod auth;
pub mod config;
mod connections;
pub mod decide;
pub mod error;
pub mod hardening;
pub mod hub;
pub mod ingest;
pub mod projection;
pub mod routes;
pub mod search;
pub mod spawn;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod timeline;
pub mod web;

//! `maestro-server` as a library: everything testable lives here; `main.rs` only parses the
//! command line and calls [`app::serve`].

pub mod app;
mod approvals;
mod auth;
pub mod config;
mod connections;
pub mod decide;
mod error;
pub mod hardening;
mod hub;
mod ingest;
pub mod machines;
mod notify;
pub mod operators;
mod otlp;
mod routes;
mod search;
mod spawn;
mod store;
mod telemetry;
mod time;
mod timeline;
mod tls;
mod web;

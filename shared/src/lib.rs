//! `maestro-shared`: the wire contract between `maestro-hook` and `maestro-server`, and the
//! pure logic both sides need. No async runtime lives here, and no I/O but [`kernel_path`]
//! (read-only symlink resolution, so both sides judge paths identically), [`git_probe`] (asks
//! git what it would run in a directory) and the host name.
//!
//! - [`events`]: the 34 Claude Code hook events and typed, lossless views of their payloads.
//! - [`envelope`]: the v1 envelope the hook wraps every payload in, and the size cap.
//! - [`ws`]: WebSocket feed messages.
//! - [`api`]: REST DTOs, the webhook answer and the JSON error type.
//! - [`registration`]: the hook entries Maestro writes into Claude Code settings.
//! - [`cli_versions`]: Claude Code versions, the supported range, each event's first version.
//! - [`kernel_path`]: a path resolved in the kernel's order (symlinks before `..`).
//! - [`git_probe`]: whether git started in a directory runs a program its configuration names.
//! - [`wire`]: the webhook path, the wait header, default address and data dir, and the JSON a
//!   decision hook prints: one definition for the hook and the server.
//! - [`policy`]: the permission-policy evaluator (used by the server and the hook's offline fallback).

pub mod api;
pub mod cli_versions;
pub mod cost;
pub mod envelope;
pub mod events;
pub mod git_probe;
pub mod kernel_path;
pub mod otel;
pub mod policy;
pub mod registration;
pub mod wire;
pub mod ws;

pub use envelope::Envelope;
pub use events::{HookEvent, HookEventName};

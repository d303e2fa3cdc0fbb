//! `maestro-shared`: the wire contract between `maestro-hook` and `maestro-server`, and the
//! pure logic both sides need. No I/O and no async runtime live here.
//!
//! - [`events`]: the 34 Claude Code hook events and typed, lossless views of their payloads.
//! - [`envelope`]: the v1 envelope the hook wraps every payload in, and the size cap.
//! - [`ws`]: WebSocket feed messages.
//! - [`api`]: REST DTOs, the webhook answer and the JSON error type.
//! - [`registration`]: the hook entries Maestro writes into Claude Code settings.
//! - [`cli_versions`]: Claude Code versions, the supported range, each event's first version.
//! - [`policy`]: the permission-policy evaluator (used by the server and the hook's offline fallback).

pub mod api;
pub mod cli_versions;
pub mod envelope;
pub mod events;
pub mod policy;
pub mod registration;
pub mod ws;

pub use envelope::Envelope;
pub use events::{HookEvent, HookEventName};

//! Events the hook could neither deliver nor spool (a full disk): counted in a small record
//! file in the spool dir, shown by `status`, and reported to the server once it is reachable
//! again (a `MaestroEventsLost` event, which the session's timeline shows as "N events lost on
//! <host>: <reason>"). Losses that physics forces are counted, never silent.
//!
//! The record has a fixed size and is made when the spool dir is (while there is room), then
//! updated in place: rewriting bytes of an already allocated block needs no new space, so a
//! full disk can still be counted.

use maestro_shared::envelope::hostname;
use maestro_shared::wire::EVENTS_LOST;
use maestro_shared::Envelope;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The record file's name in the spool dir.
pub const LOSS_FILE: &str = "lost";

const COUNT_WIDTH: usize = 20;
const SESSION_WIDTH: usize = 64;
const REASON_WIDTH: usize = 160;

/// What the record says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loss {
    /// Events lost since the last report.
    pub count: u64,
    /// The Claude session id of the last one.
    pub session_id: String,
    /// Why the last one was lost.
    pub reason: String,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(LOSS_FILE)
}

/// ASCII only, clipped and padded to `width` (a fixed-size record).
fn field(text: &str, width: usize) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(width)
        .collect();
    format!("{ascii:<width$}")
}

fn encode(loss: &Loss) -> String {
    format!(
        "{:0cw$}\n{}\n{}\n",
        loss.count,
        field(&loss.session_id, SESSION_WIDTH),
        field(&loss.reason, REASON_WIDTH),
        cw = COUNT_WIDTH
    )
}

fn decode(text: &str) -> Option<Loss> {
    let mut lines = text.lines();
    let count = lines.next()?.trim().parse().ok()?;
    Some(Loss {
        count,
        session_id: lines.next().unwrap_or("").trim().to_string(),
        reason: lines.next().unwrap_or("").trim().to_string(),
    })
}

/// Makes the record (count 0) when it does not exist yet; called whenever the spool is
/// written, while there is room.
pub fn prepare(dir: &Path) {
    // The lock file too: on a full disk (or a directory that takes no new entries) only
    // files that already exist can be opened.
    let _ = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(crate::spool::LOSS_LOCK));
    let _ = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path(dir))
        .and_then(|mut f| f.write_all(encode(&Loss::default()).as_bytes()));
}

/// The record, when there is one.
pub fn read(dir: &Path) -> Option<Loss> {
    decode(&std::fs::read_to_string(path(dir)).ok()?)
}

/// Rewrites the record in place (same size).
fn write(dir: &Path, loss: &Loss) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path(dir))?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(encode(loss).as_bytes())?;
    f.sync_data()
}

/// Counts one lost event of Claude session `session_id`. Returns the new count.
pub fn record(dir: &Path, session_id: &str, reason: &str) -> std::io::Result<u64> {
    // Best effort: a count without the lock beats no count.
    let _lock = crate::spool::lock(dir, crate::spool::LOSS_LOCK).ok();
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path(dir)) {
        let _ = f.read_to_string(&mut text);
    }
    let mut loss = decode(&text).unwrap_or_default();
    loss.count += 1;
    loss.session_id = session_id.to_string();
    loss.reason = reason.to_string();
    write(dir, &loss)?;
    Ok(loss.count)
}

/// Takes `reported` off the count (losses counted meanwhile stay).
pub fn reported(dir: &Path, reported: u64) -> std::io::Result<()> {
    let _lock = crate::spool::lock(dir, crate::spool::LOSS_LOCK)?;
    let mut loss = read(dir).unwrap_or_default();
    loss.count = loss.count.saturating_sub(reported);
    write(dir, &loss)
}

/// The event that tells the server about `loss`.
pub fn report_envelope(loss: &Loss) -> Envelope {
    let host = hostname().unwrap_or_else(|| "this machine".to_string());
    let mut env = Envelope::new(
        EVENTS_LOST,
        serde_json::json!({
            "session_id": loss.session_id,
            "hook_event_name": EVENTS_LOST,
            "lost": loss.count,
            "loss_reason": loss.reason,
            "host": host,
        }),
    );
    env.source.host = Some(host);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_place_and_forgets_only_what_was_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        prepare(dir.path());
        let size = std::fs::metadata(path(dir.path())).expect("record").len();
        assert_eq!(read(dir.path()).expect("record").count, 0);
        record(
            dir.path(),
            "sess-1",
            "spool write failed: No space left on device",
        )
        .expect("1");
        assert_eq!(record(dir.path(), "sess-2", "full ✗").expect("2"), 2);
        let loss = read(dir.path()).expect("record");
        assert_eq!(loss.session_id, "sess-2");
        assert_eq!(loss.reason, "full ?");
        assert_eq!(
            std::fs::metadata(path(dir.path())).expect("record").len(),
            size,
            "updated in place"
        );
        reported(dir.path(), 1).expect("reported");
        assert_eq!(read(dir.path()).expect("record").count, 1);
    }
}

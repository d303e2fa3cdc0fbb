//! The on-disk spool: one file per undelivered event, named so that names sort by capture
//! time (`Envelope::spool_name()`), written with temp file + rename (the hook: no fsync, the
//! drainer fsyncs what it cannot deliver at once) or temp file + fsync + rename (quarantine).
//!
//! Layout of the spool dir:
//! - `<micros>-<event_id>.json`: spooled envelopes (the only files the drainer reads);
//! - `.tmp-*`: files being written (never read; left-overs of a crash are cleaned up);
//! - `.drainer.lock`: held for its lifetime by the single background drainer;
//! - `.deliver.lock`: held while a drainer or `flush` delivers files;
//! - `quarantine/`: envelopes the server refused for good, each with a `.reason` file;
//! - `hook.log`: the local problem log (unless `MAESTRO_HOOK_LOG` says otherwise).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Name of the drainer's singleton lock file.
pub const DRAINER_LOCK: &str = ".drainer.lock";
/// Name of the delivery lock file.
pub const DELIVER_LOCK: &str = ".deliver.lock";
/// Serialises updates of the loss record (`crate::loss`).
pub const LOSS_LOCK: &str = ".loss.lock";
/// Temp files older than this are left-overs of a crash and removed.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Error with the path it concerns.
fn ctx(what: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Is `name` a spooled envelope?
pub fn is_spool_name(name: &str) -> bool {
    name.ends_with(".json") && !name.starts_with('.')
}

/// Mode of every file the spool writes: events carry commands, paths and file contents, so
/// only the user may read them.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes (truncating) a small file readable by the user only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.write_all(bytes)
}

/// Writes `bytes` as `<dir>/<name>` atomically and durably: temp file, fsync, rename, fsync
/// of the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    write_renamed(dir, name, bytes, true)
}

/// Writes `bytes` as `<dir>/<name>` atomically but without fsync (temp file, rename): what
/// the hook does on its hot path. The file is in the page cache when this returns, so it
/// survives the death of this process and of Claude Code; the drainer fsyncs what it cannot
/// deliver at once ([`sync_files`]), so only a kernel crash or power loss in between can lose
/// it.
pub fn write_unsynced(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    write_renamed(dir, name, bytes, false)
}

/// Fsyncs each of `files` not yet in `synced` (adding it), then the directory `dir` when any
/// was: makes spooled events durable. Files gone meanwhile (delivered) are skipped. Returns
/// how many were synced.
pub fn sync_files(
    dir: &Path,
    files: &[PathBuf],
    synced: &mut std::collections::HashSet<PathBuf>,
) -> usize {
    let mut n = 0;
    for f in files {
        if synced.contains(f) {
            continue;
        }
        if let Ok(file) = File::open(f) {
            if file.sync_all().is_ok() {
                synced.insert(f.clone());
                n += 1;
            }
        }
    }
    if n > 0 {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    synced.retain(|f| files.contains(f));
    n
}

fn write_renamed(dir: &Path, name: &str, bytes: &[u8], durable: bool) -> std::io::Result<PathBuf> {
    create_private_dir(dir).map_err(|e| ctx("creating", dir, e))?;
    // While there is room: the loss record a full disk can still be counted in.
    crate::loss::prepare(dir);
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let result = (|| -> std::io::Result<PathBuf> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(|e| ctx("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| ctx("writing", &tmp, e))?;
        if durable {
            f.sync_all().map_err(|e| ctx("syncing", &tmp, e))?;
        }
        let dest = dir.join(name);
        fs::rename(&tmp, &dest).map_err(|e| ctx("renaming to", &dest, e))?;
        Ok(dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    let dest = result?;
    if durable {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(dest)
}

/// The spooled envelopes of `dir`, oldest first. A missing dir is an empty spool.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ctx("listing", dir, e)),
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_spool_name(n))
        .collect();
    names.sort_unstable();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// True when `dir` holds at least one spooled envelope (cheap: stops at the first one).
pub fn has_entries(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_str().is_some_and(is_spool_name)),
        Err(_) => false,
    }
}

/// Whether the drainer has work: a spooled event, or lost events not yet reported. One
/// directory read on the hot path (a delivered event); nothing more when there is no spool.
pub fn needs_drainer(dir: &Path) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    let mut loss_record = false;
    for e in rd.filter_map(Result::ok) {
        match e.file_name().to_str() {
            Some(name) if is_spool_name(name) => return true,
            Some(crate::loss::LOSS_FILE) => loss_record = true,
            _ => {}
        }
    }
    loss_record && crate::loss::read(dir).is_some_and(|l| l.count > 0)
}

/// Moves `file` into `quarantine` and writes `<name>.reason` next to it.
pub fn quarantine(file: &Path, quarantine: &Path, reason: &str) -> std::io::Result<PathBuf> {
    let name = file
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", file.display())))?;
    create_private_dir(quarantine).map_err(|e| ctx("creating", quarantine, e))?;
    let mut reason_name = name.to_owned();
    reason_name.push(".reason");
    let reason_text = format!(
        "{}\n{}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        reason
    );
    write_private(&quarantine.join(&reason_name), reason_text.as_bytes())
        .map_err(|e| ctx("writing reason for", file, e))?;
    let dest = quarantine.join(name);
    fs::rename(file, &dest).map_err(|e| ctx("moving to quarantine", file, e))?;
    Ok(dest)
}

/// Writes an envelope that was never spooled straight into quarantine (a live event the
/// server refused for good).
pub fn quarantine_bytes(
    quarantine: &Path,
    name: &str,
    bytes: &[u8],
    reason: &str,
) -> std::io::Result<PathBuf> {
    let path = write_atomic(quarantine, name, bytes)?;
    write_private(
        &quarantine.join(format!("{name}.reason")),
        format!(
            "{}\n{}\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            reason
        )
        .as_bytes(),
    )
    .map_err(|e| ctx("writing reason for", &path, e))?;
    Ok(path)
}

/// Moves every quarantined envelope back into the spool (removing its reason). Returns how
/// many were moved.
pub fn requeue(quarantine: &Path, spool: &Path) -> std::io::Result<usize> {
    let files = list(quarantine)?;
    let mut moved = 0;
    for f in files {
        if let Some(name) = f.file_name() {
            fs::rename(&f, spool.join(name)).map_err(|e| ctx("requeueing", &f, e))?;
            let mut reason = f.clone().into_os_string();
            reason.push(".reason");
            let _ = fs::remove_file(reason);
            moved += 1;
        }
    }
    Ok(moved)
}

/// Removes temp files that a crashed writer left behind.
pub fn clean_stale_temp(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in rd.filter_map(Result::ok) {
        let is_tmp = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(".tmp-"));
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TMP);
        if is_tmp && old {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Count, total size and oldest capture time of a spool (or quarantine) dir.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Number of envelopes.
    pub count: usize,
    /// Total bytes.
    pub bytes: u64,
    /// Capture time of the oldest envelope (from its name).
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
}

/// Stats of `dir`.
pub fn stats(dir: &Path) -> std::io::Result<Stats> {
    let files = list(dir)?;
    let bytes = files
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let oldest = files.first().and_then(|f| captured_at_of(f));
    Ok(Stats {
        count: files.len(),
        bytes,
        oldest,
    })
}

/// The capture time encoded in a spool file name (`<micros>-<uuid>.json`).
pub fn captured_at_of(path: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let name = path.file_name()?.to_str()?;
    let micros: i64 = name.split('-').next()?.parse().ok()?;
    chrono::DateTime::from_timestamp_micros(micros)
}

/// A held file lock; released on drop.
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

fn open_lock(dir: &Path, name: &str) -> std::io::Result<File> {
    create_private_dir(dir).map_err(|e| ctx("creating", dir, e))?;
    let path = dir.join(name);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| ctx("opening lock", &path, e))
}

/// Takes the exclusive lock `<dir>/<name>` without waiting: `Ok(None)` when someone else
/// holds it.
pub fn try_lock(dir: &Path, name: &str) -> std::io::Result<Option<Lock>> {
    let file = open_lock(dir, name)?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(Some(Lock { file })),
        Err(fs4::TryLockError::WouldBlock) => Ok(None),
        Err(fs4::TryLockError::Error(e)) => Err(ctx("locking", &dir.join(name), e)),
    }
}

/// Takes the exclusive lock `<dir>/<name>`, waiting for it.
pub fn lock(dir: &Path, name: &str) -> std::io::Result<Lock> {
    let file = open_lock(dir, name)?;
    fs4::FileExt::lock(&file).map_err(|e| ctx("locking", &dir.join(name), e))?;
    Ok(Lock { file })
}

/// Is the lock `<dir>/<name>` held by another process right now?
pub fn is_locked(dir: &Path, name: &str) -> bool {
    if !dir.join(name).exists() {
        return false;
    }
    matches!(try_lock(dir, name), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_shared::Envelope;
    use serde_json::json;

    #[test]
    fn writes_lists_in_capture_order_and_counts() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = dir.path().join("spool");
        assert!(list(&spool).expect("list").is_empty());
        assert!(!has_entries(&spool));
        let mut envs: Vec<Envelope> = (0..5).map(|_| Envelope::new("Stop", json!({}))).collect();
        for (i, e) in envs.iter_mut().enumerate() {
            e.captured_at += chrono::Duration::microseconds(10 - i as i64 * 2);
        }
        for e in &envs {
            let bytes = serde_json::to_vec(e).expect("json");
            write_atomic(&spool, &e.spool_name(), &bytes).expect("write");
        }
        fs::write(spool.join(".tmp-123-x.json"), b"partial").expect("tmp");
        fs::write(spool.join("hook.log"), b"log").expect("log");
        let files = list(&spool).expect("list");
        assert_eq!(files.len(), 5);
        let mut want: Vec<String> = envs.iter().map(Envelope::spool_name).collect();
        want.sort();
        let got: Vec<String> = files
            .iter()
            .map(|f| f.file_name().expect("n").to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, want);
        assert!(has_entries(&spool));
        let st = stats(&spool).expect("stats");
        assert_eq!(st.count, 5);
        assert!(st.bytes > 0);
        let oldest = envs.iter().map(|e| e.captured_at).min().expect("min");
        assert_eq!(
            st.oldest.map(|o| o.timestamp_micros()),
            Some(oldest.timestamp_micros())
        );
    }

    #[test]
    fn unsynced_writes_are_complete_files_and_are_synced_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = dir.path().join("spool");
        let a = write_unsynced(&spool, "00000000000000000001-a.json", b"{\"a\":1}").expect("a");
        let b = write_unsynced(&spool, "00000000000000000002-b.json", b"{}").expect("b");
        assert_eq!(fs::read(&a).expect("read"), b"{\"a\":1}");
        // Only the renamed files: no temp file left behind.
        assert_eq!(
            fs::read_dir(&spool).expect("ls").count(),
            list(&spool).expect("l").len() + 2
        );
        let mut synced = std::collections::HashSet::new();
        let files = list(&spool).expect("list");
        assert_eq!(files, vec![a.clone(), b.clone()]);
        assert_eq!(sync_files(&spool, &files, &mut synced), 2);
        assert_eq!(sync_files(&spool, &files, &mut synced), 0, "synced once");
        fs::remove_file(&a).expect("delivered");
        let files = list(&spool).expect("list");
        assert_eq!(sync_files(&spool, &files, &mut synced), 0);
        assert_eq!(synced.len(), 1, "forgets the delivered file");
    }

    #[test]
    fn quarantine_and_requeue() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = dir.path().to_path_buf();
        let q = spool.join("quarantine");
        let f = write_atomic(&spool, "00000000000000000001-a.json", b"{").expect("write");
        let moved = quarantine(&f, &q, "corrupt: EOF").expect("quarantine");
        assert!(!f.exists());
        assert!(moved.exists());
        let reason = fs::read_to_string(q.join("00000000000000000001-a.json.reason")).expect("r");
        assert!(reason.contains("corrupt: EOF"));
        quarantine_bytes(&q, "00000000000000000002-b.json", b"{}", "401").expect("qb");
        assert_eq!(stats(&q).expect("s").count, 2);
        assert_eq!(requeue(&q, &spool).expect("requeue"), 2);
        assert_eq!(stats(&q).expect("s").count, 0);
        assert_eq!(list(&spool).expect("l").len(), 2);
        assert!(!q.join("00000000000000000001-a.json.reason").exists());
    }

    #[test]
    fn locks_are_exclusive() {
        let dir = tempfile::tempdir().expect("tmp");
        assert!(!is_locked(dir.path(), DRAINER_LOCK));
        let held = try_lock(dir.path(), DRAINER_LOCK)
            .expect("lock")
            .expect("free");
        // flock locks are per open file description: a second open sees it held.
        assert!(try_lock(dir.path(), DRAINER_LOCK).expect("try").is_none());
        assert!(is_locked(dir.path(), DRAINER_LOCK));
        drop(held);
        assert!(try_lock(dir.path(), DRAINER_LOCK).expect("try").is_some());
    }
}

//! Problems go to stderr and to a local log file, never to stdout.

use std::io::Write;
use std::path::Path;

/// The log file is rotated (to `<name>.1`) past this size.
const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// Writes one line to stderr and appends it, time-stamped, to `log_file`. Never fails.
pub fn problem(log_file: &Path, msg: &str) {
    eprintln!("maestro-hook: {msg}");
    append(log_file, msg);
}

/// Appends one time-stamped line to `log_file` only (used by the detached drainer, whose
/// stderr is /dev/null). Never fails.
pub fn append(log_file: &Path, msg: &str) {
    let _ = try_append(log_file, msg);
}

fn try_append(log_file: &Path, msg: &str) -> std::io::Result<()> {
    if let Some(dir) = log_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Ok(meta) = std::fs::metadata(log_file) {
        if meta.len() > MAX_LOG_BYTES {
            let mut rotated = log_file.as_os_str().to_owned();
            rotated.push(".1");
            let _ = std::fs::rename(log_file, rotated);
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)?;
    let line = format!(
        "{} [{}] {}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        std::process::id(),
        msg.replace('\n', " ")
    );
    // One write call so concurrent hooks do not interleave within a line.
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn appends_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("sub").join("hook.log");
        super::append(&log, "first");
        super::append(&log, "second\nline");
        let text = std::fs::read_to_string(&log).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("first"));
        assert!(lines[1].ends_with("second line"));
    }
}

//! Processes: start a session's process in its own process group with its output going to
//! files, describe how it ended, read its final `result` record, signal and probe it.
//!
//! stdout and stderr go straight to files under `<data_dir>/sessions/` (not through pipes
//! the server reads), so a session outlives a server restart without losing output or
//! dying of SIGPIPE, and a re-adopted session's log keeps growing and its `result` record
//! can still be read.

use super::command::CommandLine;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

/// Lines of stderr kept for a failure.
pub const STDERR_TAIL_LINES: usize = 50;
/// How far back from the end of the stdout log the `result` record is looked for.
const RESULT_SCAN_BYTES: u64 = 16 * 1024 * 1024;

/// Where a session's files live.
#[derive(Debug, Clone)]
pub struct SessionFiles {
    /// stream-json stdout: `<data_dir>/sessions/<id>.jsonl`.
    pub stdout: PathBuf,
    /// stderr: `<data_dir>/sessions/<id>.stderr.log`.
    pub stderr: PathBuf,
    /// Process record for re-adoption: `<data_dir>/sessions/<id>.proc.json`.
    pub proc: PathBuf,
    /// Spawn request, kept while queued: `<data_dir>/sessions/<id>.spawn.json`.
    pub spawn: PathBuf,
}

impl SessionFiles {
    /// The files of session `id` under `data_dir`.
    pub fn new(data_dir: &Path, id: &str) -> SessionFiles {
        let dir = sessions_dir(data_dir);
        SessionFiles {
            stdout: dir.join(format!("{id}.jsonl")),
            stderr: dir.join(format!("{id}.stderr.log")),
            proc: dir.join(format!("{id}.proc.json")),
            spawn: dir.join(format!("{id}.spawn.json")),
        }
    }
}

/// `<data_dir>/sessions`.
pub fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

fn open_log(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Writes a small JSON file atomically (temp file + rename), mode 0600.
pub fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut o = OpenOptions::new();
        o.create(true).write(true).truncate(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(value.to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads a JSON file written by [`write_json`].
pub fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Starts the process: its own process group (pgid = pid, so a stop reaches every process
/// it started), stdin from /dev/null (piped in SDK mode), stdout and stderr appended to the session's files.
pub fn launch(cmd: &CommandLine, files: &SessionFiles) -> std::io::Result<tokio::process::Child> {
    if let Some(dir) = files.stdout.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let stdout = open_log(&files.stdout)?;
    let stderr = open_log(&files.stderr)?;
    let mut c = tokio::process::Command::new(&cmd.program);
    for k in &cmd.env_remove {
        c.env_remove(k);
    }
    c.args(&cmd.args)
        .current_dir(&cmd.cwd)
        .envs(cmd.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // Piped only for the SDK control protocol (see `spawn::sdk`).
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    c.spawn()
}

/// How a process ended, as Maestro records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// Exit code, when it exited.
    pub code: Option<i64>,
    /// Signal, when it was killed.
    pub signal: Option<i32>,
}

impl Exit {
    /// From the OS status.
    pub fn from_status(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            code: status.code().map(i64::from),
            signal: status.signal(),
        }
    }

    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit code 3" / "killed by signal 9 (SIGKILL)".
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s} ({})", signal_name(s)),
            (None, None) => "exit status unknown".into(),
        }
    }
}

/// The conventional name of a signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

/// The last stream-json record with `"type": "result"` in the stdout log.
pub fn read_result(path: &Path) -> Option<Value> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(RESULT_SCAN_BYTES);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut reader = BufReader::new(f);
    if start > 0 {
        // Skip the partial first line.
        let mut skip = Vec::new();
        reader.read_until(b'\n', &mut skip).ok()?;
    }
    let mut found = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Cheap pre-check before parsing every assistant line.
        if !contains(&line, b"\"result\"") {
            continue;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&line) {
            if v.get("type").and_then(Value::as_str) == Some("result") {
                found = Some(v);
            }
        }
    }
    found
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The last `n` lines of a file (at most 64 KiB of it), lossily decoded.
pub fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..].join("\n")
}

/// Sends `sig` to the process group `pgid`. False when there is no such group.
pub fn signal_group(pgid: i32, sig: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// Sends `sig` to process `pid`. False when there is no such process.
pub fn signal_pid(pid: i32, sig: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    // SAFETY: plain kill(2); no memory is involved.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Is process `pid` alive? `kill(pid, 0)` succeeds (or fails with EPERM: it exists but is
/// someone else's) and it is not a zombie waiting to be reaped.
pub fn pid_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !matches!(proc_stat(pid), Some((state, _)) if state == 'Z' || state == 'X')
}

/// State letter and start time (clock ticks after boot) from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall (starttime) is index 19 after the state (field 3).
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// The process record kept for re-adoption after a server restart.
pub fn proc_record(pid: u32, host: Option<&str>) -> Value {
    let start = i32::try_from(pid).ok().and_then(proc_stat).map(|(_, s)| s);
    json!({"pid": pid, "pgid": pid, "host": host, "start_ticks": start})
}

/// Does the live process `pid` still match the record (same start time, so not a reused pid)?
pub fn same_process(record: &Value, pid: i64) -> bool {
    let Some(want) = record.get("start_ticks").and_then(Value::as_u64) else {
        return true;
    };
    match i32::try_from(pid).ok().and_then(proc_stat) {
        Some((_, start)) => start == want,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_result_record_and_the_stderr_tail() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("s.jsonl");
        std::fs::write(
            &log,
            "{\"type\":\"system\",\"subtype\":\"init\"}\nnot json\n\
             {\"type\":\"assistant\",\"message\":{\"content\":\"result\"}}\n\
             {\"type\":\"result\",\"subtype\":\"success\",\"num_turns\":3,\"total_cost_usd\":0.01,\"permission_denials\":[]}\n",
        )
        .expect("write");
        let r = read_result(&log).expect("result");
        assert_eq!(r["num_turns"], 3);
        assert!(read_result(&dir.path().join("missing")).is_none());

        let err = dir.path().join("e.log");
        let text: String = (0..80).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&err, text).expect("write");
        let tail = tail_lines(&err, STDERR_TAIL_LINES);
        assert_eq!(tail.lines().count(), 50);
        assert!(tail.starts_with("line 30") && tail.ends_with("line 79"));
    }

    #[test]
    fn probes_processes() {
        let me = std::process::id();
        assert!(pid_alive(i64::from(me)));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
        let rec = proc_record(me, Some("h"));
        assert!(same_process(&rec, i64::from(me)));
        let exit = Exit {
            code: None,
            signal: Some(9),
        };
        assert_eq!(exit.describe(), "killed by signal 9 (SIGKILL)");
    }
}

//! Which Claude Code process a hook runs under, for the server's liveness watch.
//!
//! `CLAUDE_PID` when Claude Code sets it (2.1.332 does, 2.1.197 does not); otherwise the
//! hook's parent process: Claude Code runs exec-form hooks directly, and shell-form ones
//! through a shell, so shells (`sh`, `bash`, `dash`, `zsh`) are walked through. Each pid comes
//! with its start time from `/proc/<pid>/stat`, so that a reused pid is never taken for the
//! same process.

/// Shells Claude Code (or a user's hook command) may put between the CLI and the hook.
const SHELLS: [&str; 4] = ["sh", "bash", "dash", "zsh"];

/// At most this many shells are walked through.
const MAX_SHELLS: usize = 4;

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Command name (`comm`).
    pub comm: String,
    /// Parent pid.
    pub ppid: u32,
    /// Start time in clock ticks after boot.
    pub start: u64,
}

/// Parses the text of `/proc/<pid>/stat`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    // The command name is in parentheses and may contain spaces and parentheses itself.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some(Stat { comm, ppid, start })
}

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The Claude Code process and its start time. `claude_pid` is `CLAUDE_PID` when set.
pub fn find(claude_pid: Option<u32>) -> (Option<u32>, Option<u64>) {
    find_with(claude_pid, std::os::unix::process::parent_id(), &stat)
}

/// [`find`] with the parent pid and the `/proc` reader given (for tests).
pub fn find_with(
    claude_pid: Option<u32>,
    parent: u32,
    stat: &dyn Fn(u32) -> Option<Stat>,
) -> (Option<u32>, Option<u64>) {
    if let Some(pid) = claude_pid.filter(|p| *p > 1) {
        return (Some(pid), stat(pid).map(|s| s.start));
    }
    let mut pid = parent;
    for _ in 0..=MAX_SHELLS {
        if pid <= 1 {
            // Orphaned: the process that ran the hook is gone already.
            return (None, None);
        }
        let Some(s) = stat(pid) else {
            return (Some(pid), None);
        };
        if !SHELLS.contains(&s.comm.as_str()) {
            return (Some(pid), Some(s.start));
        }
        pid = s.ppid;
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs(pid: u32) -> Option<Stat> {
        let (comm, ppid, start) = match pid {
            100 => ("claude", 50, 1000),
            200 => ("bash", 100, 2000),
            300 => ("sh", 200, 3000),
            400 => ("node", 1, 4000),
            _ => return None,
        };
        Some(Stat {
            comm: comm.into(),
            ppid,
            start,
        })
    }

    #[test]
    fn parses_proc_stat_with_odd_names() {
        let text = "4242 (my (odd) cmd) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100";
        let s = parse_stat(text).expect("stat");
        assert_eq!(s.comm, "my (odd) cmd");
        assert_eq!(s.ppid, 17);
        assert_eq!(s.start, 987654);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn claude_pid_wins_when_set() {
        assert_eq!(find_with(Some(400), 300, &procs), (Some(400), Some(4000)));
        assert_eq!(find_with(Some(999), 300, &procs), (Some(999), None));
    }

    #[test]
    fn exec_form_hooks_report_their_parent() {
        assert_eq!(find_with(None, 100, &procs), (Some(100), Some(1000)));
        assert_eq!(find_with(None, 400, &procs), (Some(400), Some(4000)));
    }

    #[test]
    fn shell_form_hooks_walk_up_through_shells() {
        assert_eq!(find_with(None, 300, &procs), (Some(100), Some(1000)));
        assert_eq!(find_with(None, 200, &procs), (Some(100), Some(1000)));
    }

    #[test]
    fn an_orphaned_hook_reports_nothing() {
        assert_eq!(find_with(None, 1, &procs), (None, None));
    }

    #[test]
    fn the_real_parent_is_found() {
        let (pid, start) = find(None);
        assert_eq!(pid, Some(std::os::unix::process::parent_id()));
        assert!(start.is_some());
    }
}

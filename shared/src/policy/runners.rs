//! Programs that run other programs: shells (`bash -c`, `sh` reading stdin), interpreters
//! (`python`, `perl`, ...), and wrappers (`sudo`, `env`, `timeout`, `xargs`, `nice`, ...).

use super::args::{has_short, is_short_cluster, positionals};
use super::commands::{derived, effect, interpret, run_script, Analyzed, EffectKind};
use super::paths::CwdState;
use super::readonly::Role;
use super::shell::{is_benign_variable, RawCommand};
use super::words::Word;

pub(super) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash",
];
pub(super) const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "bun", "deno",
];

/// `bash -c SCRIPT`, `bash FILE`, `bash` reading stdin.
pub(super) fn shell_program(
    raw: &RawCommand,
    a: &mut Analyzed,
    args: &[Word],
    depth: usize,
    out: &mut Vec<Analyzed>,
) {
    let mut command_mode = false;
    let mut stdin_mode = false;
    let mut script: Option<&Word> = None;
    let mut unknown: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        let v = w.value.as_deref();
        match v {
            Some("--") => {
                script = args.get(i + 1);
                break;
            }
            // `set -o` names that change nothing the analysis depends on.
            Some("-o" | "+o") => {
                let name = args.get(i + 1).and_then(|w| w.value.as_deref());
                if !matches!(
                    name,
                    Some("pipefail" | "errexit" | "nounset" | "xtrace" | "noglob" | "noclobber")
                ) {
                    unknown.get_or_insert_with(|| "a shell option that is not understood".into());
                }
                i += 1;
            }
            // Options whose value is a file the shell runs first.
            Some("--rcfile" | "--init-file" | "-O" | "+O") => {
                unknown.get_or_insert_with(|| "the shell runs a startup file or option".into());
                i += 1;
            }
            Some("--norc" | "--noprofile" | "--noediting") => {}
            Some("-") => break,
            // Flags: `-c`, `-s`, and the inert `-e -u -x -v -f`. Anything else can run code
            // the analysis never sees: `-i` / `-l` run the user's startup files. The script is
            // still analysed (a dangerous one is denied), but the call is not allowed.
            Some(v) if (v.starts_with('-') || v.starts_with('+')) && !v.starts_with("--") => {
                if !v[1..].chars().all(|c| "cseuxvf".contains(c)) {
                    unknown.get_or_insert_with(|| format!("shell option `{v}` is not understood"));
                }
                command_mode |= v.starts_with('-') && v.contains('c');
                stdin_mode |= v.starts_with('-') && v.contains('s');
            }
            Some(v) if v.starts_with("--") => {
                unknown.get_or_insert_with(|| format!("shell option `{v}` is not understood"));
            }
            _ => {
                script = Some(w);
                break;
            }
        }
        i += 1;
    }
    if stdin_mode && !command_mode {
        script = None;
    }
    match (command_mode, script) {
        (true, Some(w)) => match &w.value {
            Some(text) => {
                a.role = Role::Pure;
                run_script(text, raw, depth, out);
            }
            None => {
                a.problem = Some("shell script only known at run time".into());
                a.runs_code_from = a.sources.clone();
            }
        },
        (true, None) => a.problem = Some("`-c` without a script".into()),
        (false, Some(w)) => {
            if w.is_runtime() {
                a.problem = Some("runs a script only known at run time".into());
                a.runs_code_from = a.sources.clone();
            } else {
                a.effects
                    .extend(effect(EffectKind::Read, w, &raw.cwd, false));
            }
        }
        (false, None) => {
            if let Some(text) = &raw.stdin_text {
                a.role = Role::Pure;
                let mut fed = raw.clone();
                fed.stdin_text = None;
                run_script(text, &fed, depth, out);
            } else if raw.piped {
                a.problem = Some("runs commands read from a pipe".into());
                a.runs_code_from = a.sources.clone();
            }
        }
    }
    if let Some(why) = unknown {
        a.problem.get_or_insert(why);
    }
}

/// `python`, `perl`, `node`, ...: code from a file, inline, or stdin.
pub(super) fn interpreter(program: &str, raw: &RawCommand, a: &mut Analyzed, args: &[Word]) {
    if let [only] = args {
        if matches!(only.value.as_deref(), Some("--version" | "-V")) {
            a.role = Role::Pure;
            return;
        }
    }
    let inline = match program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.') {
        "python" => &["-c", "-m"][..],
        "php" => &["-r"][..],
        _ => &["-e", "-E", "-p", "--eval", "--print"][..],
    };
    let has_inline = args.iter().filter_map(|w| w.value.as_deref()).any(|v| {
        inline
            .iter()
            .any(|f| v == *f || (v.starts_with(f) && f.len() == 2 && is_short_cluster(v)))
    });
    if program.starts_with("perl") || program.starts_with("ruby") {
        let in_place = args
            .iter()
            .filter_map(|w| w.value.as_deref())
            .any(|v| is_short_cluster(v) && v.contains('i'));
        if in_place {
            for w in positionals(args).into_iter().skip(usize::from(!has_inline)) {
                a.effects
                    .extend(effect(EffectKind::Write, w, &raw.cwd, false));
            }
        }
    }
    if has_inline {
        return;
    }
    match positionals(args).first() {
        Some(w) if w.is_runtime() => {
            a.problem = Some("runs a script only known at run time".into());
            a.runs_code_from = a.sources.clone();
        }
        Some(w) if w.value.as_deref() != Some("-") => {}
        _ => {
            if raw.piped || raw.stdin_text.is_some() {
                a.runs_code_from = a.sources.clone();
                if a.runs_code_from.is_empty() {
                    a.runs_code_from.push("stdin".into());
                }
            }
        }
    }
}

/// The flags of each transparent wrapper (options without a value) and its options with an
/// optional value that is only ever attached (`xargs -i{}`, `--replace=R`), from the manuals
/// (coreutils 9.1 `env`, `nice`, `nohup`, `timeout`, `stdbuf`; GNU time 1.9; util-linux 2.38
/// `ionice`, `chrt`, `taskset`, `flock`, `setsid`, `unshare`; findutils 4.9 `xargs`; procps
/// `watch`; bash 5.2 `exec`, `command`).
fn wrapper_flags(program: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match program {
        "env" => (
            &[
                "-i",
                "--ignore-environment",
                "-0",
                "--null",
                "-v",
                "--debug",
                "--list-signal-handling",
            ],
            &["--block-signal", "--default-signal", "--ignore-signal"],
        ),
        "time" => (
            &[
                "-p",
                "--portability",
                "-a",
                "--append",
                "-v",
                "--verbose",
                "-q",
                "--quiet",
            ],
            &[],
        ),
        "timeout" => (
            &["--preserve-status", "--foreground", "-v", "--verbose"],
            &[],
        ),
        "ionice" => (&["-t", "--ignore"], &[]),
        "chrt" => (
            &[
                "-a",
                "--all-tasks",
                "-b",
                "--batch",
                "-d",
                "--deadline",
                "-f",
                "--fifo",
                "-i",
                "--idle",
                "-o",
                "--other",
                "-r",
                "--rr",
                "-R",
                "--reset-on-fork",
                "-v",
                "--verbose",
            ],
            &[],
        ),
        "taskset" => (&["-a", "--all-tasks", "-c", "--cpu-list"], &[]),
        "flock" => (
            &[
                "-s",
                "--shared",
                "-x",
                "-e",
                "--exclusive",
                "-u",
                "--unlock",
                "-n",
                "--nb",
                "--nonblock",
                "-o",
                "--close",
                "-F",
                "--no-fork",
                "--verbose",
            ],
            &[],
        ),
        "exec" => (&["-c", "-l"], &[]),
        "command" => (&["-p"], &[]),
        "xargs" => (
            &[
                "-0",
                "--null",
                "-o",
                "--open-tty",
                "-p",
                "--interactive",
                "-r",
                "--no-run-if-empty",
                "-t",
                "--verbose",
                "-x",
                "--exit",
                "--show-limits",
                "-i",
                "-e",
                "-l",
            ],
            &["--replace", "--eof", "--max-lines"],
        ),
        "setsid" => (&["-c", "--ctty", "-f", "--fork", "-w", "--wait"], &[]),
        "watch" => (
            &[
                "-b",
                "--beep",
                "-e",
                "--errexit",
                "-g",
                "--chgexit",
                "-t",
                "--no-title",
                "-x",
                "--exec",
                "-c",
                "--color",
                "-p",
                "--precise",
                "-w",
                "--no-wrap",
                "-d",
            ],
            &["--differences"],
        ),
        "unshare" => (
            &[
                "-m",
                "--mount",
                "-u",
                "--uts",
                "-i",
                "--ipc",
                "-n",
                "--net",
                "-p",
                "--pid",
                "-U",
                "--user",
                "-C",
                "--cgroup",
                "-T",
                "--time",
                "-f",
                "--fork",
                "-r",
                "--map-root-user",
                "-c",
                "--map-current-user",
                "--kill-child",
                "--mount-proc",
            ],
            &[],
        ),
        "sudo" => (
            &[
                "-A",
                "--askpass",
                "-b",
                "--background",
                "-E",
                "-H",
                "--set-home",
                "-i",
                "--login",
                "-K",
                "-k",
                "--reset-timestamp",
                "-n",
                "--non-interactive",
                "-P",
                "--preserve-groups",
                "-S",
                "--stdin",
                "-s",
                "--shell",
                "-V",
                "-v",
                "-l",
            ],
            &["--preserve-env"],
        ),
        _ => (&[], &[]),
    }
}

/// Wrappers: the command they run is analysed as a command of its own. Returns false when
/// `program` is not a wrapper.
pub(super) fn wrapper(
    program: &str,
    raw: &RawCommand,
    a: &mut Analyzed,
    args: &[Word],
    depth: usize,
    out: &mut Vec<Analyzed>,
) -> bool {
    // (options taking a value, positionals before the command, transparent). Each wrapper's
    // flags are listed in [`wrapper_flags`]: an option on neither list is not understood (it
    // could take the next word as its value and hide the wrapped command).
    let spec: (&[&str], usize, bool) = match program {
        "env" => (
            &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
            0,
            true,
        ),
        "nice" => (&["-n", "--adjustment"], 0, true),
        "nohup" | "builtin" | "busybox" | "unbuffer" => (&[], 0, true),
        "time" => (&["-f", "--format", "-o", "--output"], 0, true),
        "timeout" => (&["-s", "--signal", "-k", "--kill-after"], 1, true),
        "stdbuf" => (
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            0,
            true,
        ),
        "ionice" => (&["-c", "-n", "--class", "--classdata"], 0, true),
        "chrt" => (&[], 1, true),
        "taskset" => (&[], 1, true),
        "flock" => (
            &[
                "-w",
                "--timeout",
                "-E",
                "--conflict-exit-code",
                "-c",
                "--command",
            ],
            1,
            true,
        ),
        "exec" => (&["-a"], 0, true),
        "command" => (&[], 0, true),
        "xargs" => (
            &[
                "-I",
                "-L",
                "-n",
                "-P",
                "-s",
                "-d",
                "-E",
                "-a",
                "--arg-file",
                "--delimiter",
                "--max-args",
                "--max-procs",
                "--max-chars",
                "--process-slot-var",
            ],
            0,
            true,
        ),
        "sudo" => (
            &[
                "-u",
                "-g",
                "-h",
                "-p",
                "-C",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--close-from",
            ],
            0,
            false,
        ),
        "doas" => (&["-u", "-C"], 0, false),
        "pkexec" => (&["--user"], 0, false),
        "runuser" | "su" => (
            &[
                "-u",
                "-g",
                "-G",
                "-s",
                "--user",
                "--group",
                "--shell",
                "-c",
                "--command",
            ],
            0,
            false,
        ),
        "chroot" => (&["--userspec", "--groups"], 1, false),
        "watch" => (&["-n", "--interval"], 0, true),
        "setsid" => (&[], 0, true),
        "unshare" => (
            &[
                "--map-user",
                "--map-group",
                "--setgroups",
                "--propagation",
                "-S",
                "-G",
                "--setuid",
                "--setgid",
                "-R",
                "--root",
                "-w",
                "--wd",
            ],
            0,
            true,
        ),
        _ => return false,
    };
    let (value_opts, skip_positionals, transparent) = spec;
    let (flags, optional) = wrapper_flags(program);
    if program == "command" && has_short(args, "vV", &[]) {
        a.role = Role::Pure;
        return true;
    }
    let mut cwd = raw.cwd.clone();
    let mut i = 0;
    let mut script: Option<Word> = None;
    let mut env_changed = false;
    let mut replace: Option<String> = None;
    let mut arg_files: Vec<Word> = Vec::new();
    while i < args.len() {
        let v = args[i].value.as_deref().unwrap_or_default();
        if v == "--" {
            i += 1;
            break;
        }
        if !v.starts_with('-') || v == "-" {
            break;
        }
        let (name, attached) = match v.split_once('=') {
            Some((n, val)) if n.starts_with("--") => (n, Some(val.to_string())),
            _ if !v.starts_with("--") && v.len() > 2 && v.is_char_boundary(2) => {
                // GNU getopt: `-Svalue` is an attached value, `-iS...` a cluster whose
                // last option may take the rest as its value. Only the first is understood.
                let head = &v[..2];
                if value_opts.contains(&head) {
                    (head, Some(v[2..].to_string()))
                } else {
                    a.problem = Some(format!("{program}: option cluster `{v}` is not understood"));
                    return true;
                }
            }
            _ => (v, None),
        };
        let takes_value = value_opts.contains(&name);
        let is_optional = optional.contains(&name);
        let numeric = program == "nice" && name[1..].parse::<i64>().is_ok();
        if !(takes_value || is_optional || numeric || flags.contains(&name)) {
            // Unknown, or an abbreviation (GNU accepts `--process` for `--process-slot-var`,
            // which takes the next word): not understood.
            a.problem = Some(format!("{program}: option `{name}` is not understood"));
            return true;
        }
        if attached.is_some() && !(takes_value || is_optional) {
            a.problem = Some(format!("{program}: option `{name}` takes no value"));
            return true;
        }
        let value = if takes_value {
            attached.or_else(|| {
                i += 1;
                args.get(i).and_then(|w| w.value.clone())
            })
        } else {
            attached
        };
        match (program, name) {
            ("unshare", "-R" | "--root") => {
                a.problem = Some("unshare --root changes what every path means".into());
                return true;
            }
            ("env", "-C" | "--chdir") | ("sudo", "-D" | "--chdir") | ("unshare", "-w" | "--wd") => {
                cwd = value.as_deref().map_or(CwdState::Unknown, |d| cwd.cd(d));
            }
            // A removed variable changes what the program reads as much as a set one:
            // `env -u XDG_CONFIG_HOME git status` reads a git configuration nobody looked at.
            ("env", "-u" | "--unset" | "-i" | "--ignore-environment") => env_changed = true,
            ("env", "-S" | "--split-string") | ("su" | "runuser" | "flock", "-c" | "--command") => {
                script = Some(
                    value
                        .as_deref()
                        .map_or_else(|| Word::dynamic("?"), Word::literal),
                );
            }
            ("xargs", "-I" | "-i" | "--replace") => replace = value.or(Some("{}".into())),
            ("xargs", "-a" | "--arg-file") => {
                // The file's words become arguments of the command: what it reads reaches
                // the command as if piped (`xargs -a .env curl` sends it).
                let w = value
                    .as_deref()
                    .map_or_else(|| Word::dynamic("?"), Word::literal);
                a.effects.extend(effect(EffectKind::Read, &w, &cwd, false));
                arg_files.push(w);
            }
            ("flock", _) => {}
            ("time", "-o" | "--output") => {
                if let Some(v) = value {
                    a.effects
                        .extend(effect(EffectKind::Write, &Word::literal(&v), &cwd, false));
                }
            }
            _ => {}
        }
        i += 1;
    }
    // `env` assignments.
    let mut env_assigned = env_changed;
    if program == "env" {
        while let Some(w) = args.get(i) {
            let text = w.value.as_deref().unwrap_or(&w.raw);
            let is_assignment = text
                .split_once('=')
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains('/') && !n.starts_with('-'));
            if !is_assignment {
                break;
            }
            env_assigned |= text
                .split_once('=')
                .is_some_and(|(name, _)| !is_benign_variable(name));
            i += 1;
        }
    }
    if program == "su" || program == "runuser" {
        // `su [-] [user]`: positionals are users, not commands.
        if script.is_none() {
            a.role = Role::Other;
            return true;
        }
        i = args.len();
    }
    if program == "flock" {
        // `flock FILE|DIR [-c CMD | CMD ...]`: the lock file is created when missing (a write:
        // `flock ~/.bash_profile true` makes bash skip `~/.profile`).
        if let Some(lock) = args.get(i) {
            a.effects
                .extend(effect(EffectKind::Write, lock, &cwd, false));
        }
        if let Some(flag) = args.get(i + 1).and_then(|w| w.value.as_deref()) {
            if matches!(flag, "-c" | "--command") {
                script = Some(
                    args.get(i + 2)
                        .and_then(|w| w.value.as_deref())
                        .map_or_else(|| Word::dynamic("?"), Word::literal),
                );
            }
        }
    }
    i += skip_positionals;
    a.role = if transparent { Role::Pure } else { Role::Other };
    if let Some(s) = script {
        match &s.value {
            Some(text) => run_script(text, &derived(raw, Vec::new(), cwd.clone()), depth, out),
            None => a.problem = Some(format!("{program} runs a script only known at run time")),
        }
        return true;
    }
    let mut inner: Vec<Word> = args.get(i..).unwrap_or_default().to_vec();
    if program == "watch" && !inner.is_empty() {
        let values: Option<Vec<&str>> = inner.iter().map(|w| w.value.as_deref()).collect();
        match values {
            Some(v) => run_script(&v.join(" "), &derived(raw, Vec::new(), cwd), depth, out),
            None => a.problem = Some("watch runs a command only known at run time".into()),
        }
        return true;
    }
    if program == "xargs" {
        if inner.is_empty() {
            inner.push(Word::literal("echo"));
        }
        match &replace {
            Some(r) => {
                for w in inner.iter_mut().skip(1) {
                    if w.raw.contains(r.as_str()) {
                        *w = Word::dynamic(&w.raw);
                    }
                }
            }
            None => inner.push(Word::dynamic("<stdin>")),
        }
    }
    if inner.is_empty() {
        // `env`, `sudo -v`, `nice`: nothing wrapped.
        a.role = Role::Other;
        return true;
    }
    let mut inner_raw = derived(raw, inner, cwd);
    inner_raw.untrusted_env |= env_assigned;
    // The wrapper's own input redirections feed the wrapped command (`busybox nc < .env`).
    inner_raw.upstream.extend(
        raw.redirects
            .iter()
            .filter(|r| !r.write)
            .map(|r| r.target.clone()),
    );
    inner_raw.upstream.extend(arg_files);
    interpret(&inner_raw, depth + 1, out);
    true
}

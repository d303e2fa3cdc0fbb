//! What each simple command does: the program behind wrappers (`sudo`, `env`, `timeout`,
//! `xargs`, `find -exec`, ...), the scripts run by `bash -c`, `sh -c`, `eval`, here-documents
//! fed to a shell, and the files it reads, writes and deletes.

use super::glob;
use super::paths::{CwdState, PathExpr};
use super::readonly::{self, Role, PATTERN_FIRST};
use super::shell::{self, RawCommand};
use super::words::Word;

/// Path component standing for "some directories below" (not a glob: it matches no protected
/// name, and keeps the path inside its root).
const UNKNOWN_DIRS: &str = "…";

/// Deepest wrapper / script nesting followed.
const MAX_WRAP_DEPTH: usize = 24;

/// What a command does to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EffectKind {
    /// Reads it.
    Read,
    /// Creates or modifies it.
    Write,
    /// Deletes (or moves away) it.
    Delete,
}

/// The file an effect is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A path known before running.
    Path(PathExpr),
    /// Only known at run time (variable, substitution, stdin of `xargs`).
    Unknown(String),
}

/// One file access of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Effect {
    /// Read, write or delete.
    pub kind: EffectKind,
    /// On what.
    pub target: Target,
    /// Applies to a whole tree (`rm -r`, `chmod -R`, `find -delete`, `mv` of a directory).
    pub recursive: bool,
}

/// One command after interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analyzed {
    /// Program base name (`/bin/rm` gives `rm`); `None` when computed at run time.
    pub program: Option<String>,
    /// Program and arguments.
    pub argv: Vec<Word>,
    /// `argv` joined by spaces (what `command` globs match).
    pub text: String,
    /// Pure / reader / other.
    pub role: Role,
    /// File accesses.
    pub effects: Vec<Effect>,
    /// Programs whose output reaches this command.
    pub sources: Vec<String>,
    /// Non-empty when the command runs code it gets from these programs (stdin of a shell,
    /// `bash <(...)`, `eval "$(...)"`).
    pub runs_code_from: Vec<String>,
    /// A self-recursive function in a pipeline or in the background.
    pub fork_bomb: bool,
    /// Why the command is not understood, if it is not.
    pub problem: Option<String>,
    /// Its working directory.
    pub cwd: CwdState,
}

impl Analyzed {
    fn new(raw: &RawCommand, argv: Vec<Word>) -> Analyzed {
        let program = argv
            .first()
            .and_then(|w| w.value.as_deref())
            .map(|v| v.rsplit('/').next().unwrap_or(v).to_string());
        let text = argv.iter().map(Word::display).collect::<Vec<_>>().join(" ");
        Analyzed {
            program,
            argv,
            text,
            role: Role::Other,
            effects: Vec::new(),
            sources: raw.sources.clone(),
            runs_code_from: Vec::new(),
            fork_bomb: raw.fork_bomb,
            problem: None,
            cwd: raw.cwd.clone(),
        }
    }

    /// The arguments after the program.
    pub(crate) fn args(&self) -> &[Word] {
        self.argv.get(1..).unwrap_or(&[])
    }

    /// Static values of the arguments (`None` for run-time values).
    pub(crate) fn arg_values(&self) -> Vec<Option<&str>> {
        self.args().iter().map(|w| w.value.as_deref()).collect()
    }
}

/// The analysis of a whole command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Analysis {
    /// Every command it runs.
    pub commands: Vec<Analyzed>,
    /// Set when the line as a whole could not be parsed.
    pub problem: Option<String>,
}

/// Parses and interprets a Bash tool command line.
pub(crate) fn analyze(command: &str) -> Analysis {
    match shell::parse(command, CwdState::Session, 0) {
        Ok(raws) => {
            let mut out = Vec::new();
            for raw in &raws {
                interpret(raw, 0, &mut out);
            }
            Analysis {
                commands: out,
                problem: None,
            }
        }
        Err(problem) => Analysis {
            commands: Vec::new(),
            problem: Some(problem),
        },
    }
}

/// Whether a write/read target is a harmless device.
pub(crate) fn is_harmless_device(path: &str) -> bool {
    matches!(
        path,
        "/dev/null"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/zero"
            | "/dev/random"
            | "/dev/urandom"
    ) || path.starts_with("/dev/fd/")
}

fn target(word: &Word, cwd: &CwdState) -> Option<Target> {
    match &word.value {
        Some(v) if v == "-" || v.is_empty() || is_harmless_device(v) => None,
        Some(v) => Some(Target::Path(PathExpr {
            text: v.clone(),
            tilde: word.tilde,
            cwd: cwd.clone(),
        })),
        None => Some(Target::Unknown(word.raw.clone())),
    }
}

fn effect(kind: EffectKind, word: &Word, cwd: &CwdState, recursive: bool) -> Option<Effect> {
    target(word, cwd).map(|target| Effect {
        kind,
        target,
        recursive,
    })
}

/// Interprets one raw command (and whatever it wraps or runs) into `out`.
fn interpret(raw: &RawCommand, depth: usize, out: &mut Vec<Analyzed>) {
    let mut a = Analyzed::new(raw, expand_braces(&raw.argv));
    for r in &raw.redirects {
        let kind = if r.write {
            EffectKind::Write
        } else {
            EffectKind::Read
        };
        a.effects.extend(effect(kind, &r.target, &raw.cwd, false));
    }
    if depth > MAX_WRAP_DEPTH {
        a.problem = Some("commands wrapped too deeply".into());
        out.push(a);
        return;
    }
    if raw.argv.is_empty() {
        a.role = Role::Pure;
        out.push(a);
        return;
    }
    let Some(program) = a.program.clone() else {
        a.problem = Some(format!(
            "the program `{}` is only known at run time",
            a.argv.first().map(|w| w.raw.as_str()).unwrap_or_default()
        ));
        out.push(a);
        return;
    };
    let mut inner: Vec<Analyzed> = Vec::new();
    interpret_program(&program, raw, &mut a, depth, &mut inner);
    out.push(a);
    out.append(&mut inner);
}

/// Brace expansion (`{a,b}`), which bash does before anything else: `{rm,-rf,/}` is `rm -rf /`.
/// Quoted braces are expanded too (harmless over-approximation).
fn expand_braces(argv: &[Word]) -> Vec<Word> {
    let mut out = Vec::with_capacity(argv.len());
    for w in argv {
        let alternatives = match &w.value {
            Some(v) if v.contains('{') && v.contains(',') => glob::expand_braces(v),
            _ => Vec::new(),
        };
        if alternatives.len() < 2 {
            out.push(w.clone());
            continue;
        }
        let unquoted = !w.raw.contains(['\'', '"']);
        for alt in alternatives {
            out.push(Word {
                raw: w.raw.clone(),
                tilde: alt.starts_with('~') && (w.tilde || unquoted),
                value: Some(alt),
                substitutions: Vec::new(),
            });
        }
    }
    out
}

/// A command made of `argv` that inherits `raw`'s context (stdin, sources, cwd).
fn derived(raw: &RawCommand, argv: Vec<Word>, cwd: CwdState) -> RawCommand {
    RawCommand {
        argv,
        assignments: Vec::new(),
        redirects: Vec::new(),
        cwd,
        sources: raw.sources.clone(),
        stdin_text: raw.stdin_text.clone(),
        piped: raw.piped,
        fork_bomb: false,
    }
}

/// Analyses `script` run by a shell inside `raw` (inherits its stdin and sources).
fn run_script(script: &str, raw: &RawCommand, depth: usize, out: &mut Vec<Analyzed>) {
    match shell::parse(script, raw.cwd.clone(), depth / 3 + 1) {
        Ok(cmds) => {
            for mut c in cmds {
                c.sources.extend(raw.sources.iter().cloned());
                if c.stdin_text.is_none() {
                    c.stdin_text = raw.stdin_text.clone();
                }
                c.piped |= raw.piped;
                interpret(&c, depth + 1, out);
            }
        }
        Err(problem) => {
            let mut a = Analyzed::new(raw, vec![Word::dynamic(script)]);
            a.problem = Some(format!("inner script not understood: {problem}"));
            out.push(a);
        }
    }
}

fn is_short_cluster(a: &str) -> bool {
    a.starts_with('-') && !a.starts_with("--") && a.len() > 1
}

/// Positional arguments (after options; everything after `--`).
fn positionals(args: &[Word]) -> Vec<&Word> {
    let mut out = Vec::new();
    let mut done = false;
    for w in args {
        match w.value.as_deref() {
            Some("--") if !done => done = true,
            Some(v) if !done && v.starts_with('-') && v != "-" => {}
            _ => out.push(w),
        }
    }
    out
}

fn has_short(args: &[Word], letters: &str, long: &[&str]) -> bool {
    args.iter().filter_map(|w| w.value.as_deref()).any(|a| {
        (is_short_cluster(a) && a[1..].chars().any(|c| letters.contains(c)))
            || long
                .iter()
                .any(|l| a == *l || a.starts_with(&format!("{l}=")))
    })
}

/// Value of option `short` / `long` (`-o FILE`, `--output=FILE`, `--output FILE`).
fn option_value<'a>(args: &'a [Word], short: &[&str], long: &[&str]) -> Vec<&'a Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let v = args[i].value.as_deref().unwrap_or_default();
        if short.contains(&v) || long.contains(&v) {
            if let Some(w) = args.get(i + 1) {
                out.push(w);
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    out
}

fn option_eq_values(args: &[Word], long: &[&str]) -> Vec<Word> {
    args.iter()
        .filter_map(|w| {
            let v = w.value.as_deref()?;
            long.iter().find_map(|l| {
                v.strip_prefix(&format!("{l}=")).map(|rest| Word {
                    raw: rest.to_string(),
                    value: Some(rest.to_string()),
                    tilde: rest.starts_with('~'),
                    substitutions: Vec::new(),
                })
            })
        })
        .collect()
}

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash",
];
const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "bun", "deno",
];

fn interpret_program(
    program: &str,
    raw: &RawCommand,
    a: &mut Analyzed,
    depth: usize,
    out: &mut Vec<Analyzed>,
) {
    let args: Vec<Word> = a.args().to_vec();
    let cwd = raw.cwd.clone();
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if SHELLS.contains(&program) {
        shell_program(raw, a, &args, depth, out);
        return;
    }
    if INTERPRETERS.contains(&program) || INTERPRETERS.contains(&base) {
        interpreter(program, raw, a, &args);
        return;
    }
    if wrapper(program, raw, a, &args, depth, out) {
        return;
    }
    match program {
        "eval" => {
            let values: Option<Vec<&str>> = args.iter().map(|w| w.value.as_deref()).collect();
            match values {
                Some(v) => {
                    a.role = Role::Pure;
                    run_script(&v.join(" "), raw, depth, out);
                }
                None => {
                    a.problem = Some("eval of a value only known at run time".into());
                    a.runs_code_from = a.sources.clone();
                }
            }
        }
        "source" | "." => match args.first() {
            Some(w) if w.is_runtime() => {
                a.problem = Some("sources a script only known at run time".into());
                a.runs_code_from = a.sources.clone();
            }
            Some(w) => a.effects.extend(effect(EffectKind::Read, w, &cwd, false)),
            None => {}
        },
        "find" => find(raw, a, &args, depth, out),
        _ => {
            file_effects(program, a, &args, &cwd);
            let values = a.arg_values();
            a.role = readonly::classify(program, &values);
            if a.role == Role::Reader {
                reader_effects(program, a, &args, &cwd);
            }
        }
    }
}

/// `bash -c SCRIPT`, `bash FILE`, `bash` reading stdin.
fn shell_program(
    raw: &RawCommand,
    a: &mut Analyzed,
    args: &[Word],
    depth: usize,
    out: &mut Vec<Analyzed>,
) {
    let mut command_mode = false;
    let mut stdin_mode = false;
    let mut script: Option<&Word> = None;
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        let v = w.value.as_deref();
        match v {
            Some("--") => {
                script = args.get(i + 1);
                break;
            }
            Some("-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") => i += 1,
            Some(v) if v == "-c" || (is_short_cluster(v) && v.contains('c')) => command_mode = true,
            Some(v) if v.starts_with('-') || v.starts_with('+') => {
                if v == "-" {
                    break;
                }
                stdin_mode |= is_short_cluster(v) && v.contains('s');
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
}

/// `python`, `perl`, `node`, ...: code from a file, inline, or stdin.
fn interpreter(program: &str, raw: &RawCommand, a: &mut Analyzed, args: &[Word]) {
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

/// Wrappers: the command they run is analysed as a command of its own. Returns false when
/// `program` is not a wrapper.
fn wrapper(
    program: &str,
    raw: &RawCommand,
    a: &mut Analyzed,
    args: &[Word],
    depth: usize,
    out: &mut Vec<Analyzed>,
) -> bool {
    // (name, options taking a value, positionals before the command, transparent)
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
                "--max-lines",
                "--replace",
                "--eof",
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
        "watch" => (&["-n", "--interval", "-d"], 0, true),
        _ => return false,
    };
    let (value_opts, skip_positionals, transparent) = spec;
    if program == "command" && has_short(args, "vV", &[]) {
        a.role = Role::Pure;
        return true;
    }
    let mut cwd = raw.cwd.clone();
    let mut i = 0;
    let mut script: Option<Word> = None;
    let mut replace: Option<String> = None;
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
            _ => (v, None),
        };
        let takes_value = value_opts.contains(&name);
        let value = if takes_value {
            attached.or_else(|| {
                i += 1;
                args.get(i).and_then(|w| w.value.clone())
            })
        } else {
            None
        };
        match (program, name) {
            ("env", "-C" | "--chdir") | ("sudo", "-D" | "--chdir") => {
                cwd = value.as_deref().map_or(CwdState::Unknown, |d| cwd.cd(d));
            }
            ("env", "-S" | "--split-string") | ("su" | "runuser" | "flock", "-c" | "--command") => {
                script = Some(
                    value
                        .as_deref()
                        .map_or_else(|| Word::dynamic("?"), Word::literal),
                );
            }
            ("xargs", "-I" | "--replace") => replace = value.or(Some("{}".into())),
            ("xargs", "-a" | "--arg-file") | ("flock", _) => {}
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
    if program == "env" {
        while args
            .get(i)
            .and_then(|w| w.value.as_deref())
            .is_some_and(|v| {
                v.split_once('=')
                    .is_some_and(|(n, _)| !n.is_empty() && !n.contains('/'))
            })
        {
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
    interpret(&derived(raw, inner, cwd), depth + 1, out);
    true
}

/// `find`: roots are read; `-delete` deletes them recursively; `-exec` runs a command on them.
fn find(raw: &RawCommand, a: &mut Analyzed, args: &[Word], depth: usize, out: &mut Vec<Analyzed>) {
    let cwd = raw.cwd.clone();
    let mut roots: Vec<Word> = args
        .iter()
        .take_while(|w| {
            w.value
                .as_deref()
                .is_none_or(|v| !(v.starts_with('-') || v == "(" || v == "!" || v == ")"))
        })
        .cloned()
        .collect();
    let expr_start = roots.len();
    if roots.is_empty() {
        roots.push(Word::literal("."));
    }
    for r in &roots {
        a.effects.extend(effect(EffectKind::Read, r, &cwd, false));
    }
    // What -delete and -exec act on: files somewhere below each root (`…` stands for the
    // unknown directories), named by the `-name` test when there is exactly one.
    let names: Vec<&str> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(t, _)| matches!(t.value.as_deref(), Some("-name" | "-iname")))
        .filter_map(|(_, n)| n.value.as_deref())
        .collect();
    let alternatives = args
        .iter()
        .any(|w| matches!(w.value.as_deref(), Some("-o" | "-or" | ",")));
    let leaf = match (names.as_slice(), alternatives) {
        ([name], false) if !name.contains('/') => format!("/{UNKNOWN_DIRS}/{name}"),
        _ => format!("/{UNKNOWN_DIRS}"),
    };
    let below: Vec<Word> = roots
        .iter()
        .map(|r| match &r.value {
            Some(v) => {
                let mut w = Word::literal(&format!("{}{leaf}", v.trim_end_matches('/')));
                w.tilde = r.tilde;
                w
            }
            None => r.clone(),
        })
        .collect();
    let values = a.arg_values();
    a.role = readonly::classify("find", &values);
    let mut i = expr_start;
    while i < args.len() {
        let v = args[i].value.as_deref().unwrap_or_default();
        match v {
            "-delete" => {
                for r in &below {
                    a.effects.extend(effect(EffectKind::Delete, r, &cwd, true));
                }
            }
            "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                if let Some(w) = args.get(i + 1) {
                    a.effects.extend(effect(EffectKind::Write, w, &cwd, false));
                }
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let end = args[i + 1..]
                    .iter()
                    .position(|w| matches!(w.value.as_deref(), Some(";" | "+")))
                    .map_or(args.len(), |p| i + 1 + p);
                let template = &args[i + 1..end];
                if template.is_empty() {
                    a.problem = Some("find -exec without a command".into());
                }
                for root in &below {
                    let argv: Vec<Word> = template
                        .iter()
                        .map(|w| match w.value.as_deref() {
                            Some("{}") => root.clone(),
                            Some(v) if v.contains("{}") => Word::dynamic(&w.raw),
                            _ => w.clone(),
                        })
                        .collect();
                    if !argv.is_empty() {
                        interpret(&derived(raw, argv, cwd.clone()), depth + 1, out);
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Files read by a reader: positionals (but the pattern of `grep`-likes), option values that
/// look like paths, and the working directory itself.
fn reader_effects(program: &str, a: &mut Analyzed, args: &[Word], cwd: &CwdState) {
    let explicit_pattern = has_short(args, "ef", &["--regexp", "--file", "--expression"]);
    let skip = usize::from(PATTERN_FIRST.contains(&program) && !explicit_pattern);
    let mut reads: Vec<Word> = Vec::new();
    if program == "git" {
        reads.extend(option_value(args, &["-C"], &[]).into_iter().cloned());
    } else {
        reads.extend(positionals(args).into_iter().skip(skip).cloned());
        for w in args {
            if let Some(v) = w.value.as_deref() {
                if v.starts_with('-') {
                    if let Some(pos) = v.find(['/', '~']) {
                        let path = &v[pos..];
                        let path = path.strip_prefix('=').unwrap_or(path);
                        let mut word = Word::literal(path);
                        word.tilde = path.starts_with('~') && w.tilde;
                        reads.push(word);
                    }
                }
            }
        }
    }
    reads.push(Word::literal("."));
    let recursive = matches!(program, "rg" | "ag")
        || (matches!(program, "grep" | "egrep" | "fgrep")
            && has_short(args, "rR", &["--recursive", "--dereference-recursive"]));
    for w in &reads {
        a.effects
            .extend(effect(EffectKind::Read, w, cwd, recursive));
    }
}

/// Writes and deletes of the common file-changing programs.
fn file_effects(program: &str, a: &mut Analyzed, args: &[Word], cwd: &CwdState) {
    let pos = positionals(args);
    let mut add = |kind: EffectKind, w: &Word, recursive: bool| {
        a.effects.extend(effect(kind, w, cwd, recursive));
    };
    match program {
        "rm" => {
            let recursive = has_short(args, "rR", &["--recursive"]);
            for w in &pos {
                add(EffectKind::Delete, w, recursive);
            }
        }
        "rmdir" | "unlink" | "shred" => {
            for w in &pos {
                add(EffectKind::Delete, w, false);
            }
        }
        "cp" | "mv" | "install" | "ln" | "rsync" | "scp" => {
            let local = |w: &Word| {
                !(matches!(program, "rsync" | "scp")
                    && w.value.as_deref().is_some_and(|v| {
                        v.split('/').next().is_some_and(|head| head.contains(':'))
                    }))
            };
            let explicit: Vec<Word> = option_value(args, &["-t"], &["--target-directory"])
                .into_iter()
                .cloned()
                .chain(option_eq_values(args, &["--target-directory"]))
                .collect();
            let (dest, sources): (Vec<&Word>, Vec<&Word>) = if !explicit.is_empty() {
                (
                    explicit.iter().collect(),
                    pos.iter()
                        .copied()
                        .filter(|w| !explicit.contains(w))
                        .collect(),
                )
            } else if pos.len() >= 2 || program != "ln" {
                match pos.split_last() {
                    Some((last, rest)) => (vec![*last], rest.to_vec()),
                    None => (Vec::new(), Vec::new()),
                }
            } else {
                (Vec::new(), pos.clone())
            };
            let recursive_copy = has_short(args, "rRa", &["--recursive", "--archive"]);
            for w in dest.iter().copied().filter(|w| local(w)) {
                add(EffectKind::Write, w, recursive_copy || program == "mv");
                if program == "rsync"
                    && has_short(
                        args,
                        "",
                        &[
                            "--delete",
                            "--delete-after",
                            "--delete-before",
                            "--delete-during",
                            "--delete-excluded",
                        ],
                    )
                {
                    add(EffectKind::Delete, w, true);
                }
            }
            for w in sources.iter().copied().filter(|w| local(w)) {
                if program == "mv" {
                    // Moved away: a delete of the source (not recursive, so that `mv "$f" x`
                    // is asked rather than denied; `mv ~ x` is still a write outside).
                    add(EffectKind::Delete, w, false);
                } else if program != "ln" {
                    add(EffectKind::Read, w, recursive_copy);
                }
            }
        }
        "tee" | "touch" | "mkdir" | "truncate" | "mkfifo" | "mknod" | "sponge" => {
            for w in &pos {
                add(EffectKind::Write, w, false);
            }
        }
        "chmod" | "chown" | "chgrp" => {
            let recursive = has_short(args, "R", &["--recursive"]);
            let skip = usize::from(!args.iter().any(|w| {
                w.value
                    .as_deref()
                    .is_some_and(|v| v.starts_with("--reference"))
            }));
            for w in pos.iter().skip(skip) {
                add(EffectKind::Write, w, recursive);
            }
        }
        "dd" => {
            for w in args {
                if let Some(v) = w.value.as_deref() {
                    if let Some(path) = v.strip_prefix("of=") {
                        add(EffectKind::Write, &Word::literal(path), false);
                    } else if let Some(path) = v.strip_prefix("if=") {
                        add(EffectKind::Read, &Word::literal(path), false);
                    }
                }
            }
        }
        "sed" => {
            let explicit = has_short(args, "ef", &["--expression", "--file"]);
            let in_place = args
                .iter()
                .filter_map(|w| w.value.as_deref())
                .any(|v| v.starts_with("--in-place") || (is_short_cluster(v) && v.contains('i')));
            if in_place {
                for w in pos.iter().skip(usize::from(!explicit)) {
                    add(EffectKind::Write, w, false);
                }
            }
        }
        "sort" => {
            for w in option_value(args, &["-o"], &["--output"]) {
                add(EffectKind::Write, w, false);
            }
            for w in option_eq_values(args, &["--output"]) {
                add(EffectKind::Write, &w, false);
            }
        }
        "uniq" => {
            if let Some(w) = pos.get(1) {
                add(EffectKind::Write, w, false);
            }
        }
        "curl" | "wget" => {
            for w in option_value(args, &["-o", "-O"], &["--output", "--output-document"]) {
                if program == "curl" && w.value.as_deref().is_some_and(|v| v.starts_with('-')) {
                    continue;
                }
                add(EffectKind::Write, w, false);
            }
            for w in option_value(args, &["-T"], &["--upload-file"]) {
                add(EffectKind::Read, w, false);
            }
            for w in option_value(
                args,
                &["-d", "-F"],
                &[
                    "--data",
                    "--data-binary",
                    "--data-raw",
                    "--data-urlencode",
                    "--form",
                ],
            ) {
                if let Some(v) = w.value.as_deref() {
                    if let Some((_, file)) = v.split_once('@') {
                        let file = file.split(';').next().unwrap_or(file);
                        let mut word = Word::literal(file);
                        word.tilde = file.starts_with('~');
                        add(EffectKind::Read, &word, false);
                    }
                } else {
                    add(EffectKind::Read, w, false);
                }
            }
            for w in option_eq_values(args, &["--output", "--output-document", "--post-file"]) {
                add(EffectKind::Write, &w, false);
            }
        }
        "tar" => {
            let flags: String = args
                .iter()
                .filter_map(|w| w.value.as_deref())
                .take(1)
                .filter(|v| !v.starts_with("--"))
                .map(|v| v.trim_start_matches('-').to_string())
                .chain(
                    args.iter()
                        .skip(1)
                        .filter_map(|w| w.value.as_deref())
                        .filter(|v| is_short_cluster(v))
                        .map(|v| v[1..].to_string()),
                )
                .collect();
            let extract = flags.contains('x') || has_short(args, "", &["--extract", "--get"]);
            if extract {
                let dirs: Vec<Word> = option_value(args, &["-C"], &["--directory"])
                    .into_iter()
                    .cloned()
                    .chain(option_eq_values(args, &["--directory"]))
                    .collect();
                if dirs.is_empty() {
                    add(EffectKind::Write, &Word::literal("."), true);
                }
                for d in &dirs {
                    add(EffectKind::Write, d, true);
                }
            }
        }
        "unzip" => {
            let dirs = option_value(args, &["-d"], &[]);
            if dirs.is_empty() {
                add(EffectKind::Write, &Word::literal("."), true);
            }
            for d in dirs {
                add(EffectKind::Write, d, true);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(cmd: &str) -> Vec<String> {
        analyze(cmd)
            .commands
            .iter()
            .map(|c| c.program.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn unwraps() {
        assert_eq!(programs("sudo rm -rf /"), vec!["sudo", "rm"]);
        assert_eq!(programs("bash -c 'rm -rf ~'"), vec!["bash", "rm"]);
        assert_eq!(
            programs("env FOO=1 nice -n 5 ls"),
            vec!["env", "nice", "ls"]
        );
        assert_eq!(programs("timeout 5 ls"), vec!["timeout", "ls"]);
        assert_eq!(programs("xargs rm -rf"), vec!["xargs", "rm"]);
        assert_eq!(programs("find . -exec rm {} +"), vec!["find", "rm"]);
        assert_eq!(programs("eval 'ls; rm x'"), vec!["eval", "ls", "rm"]);
        assert_eq!(programs("bash <<'EOF'\nrm -rf /\nEOF"), vec!["bash", "rm"]);
    }

    #[test]
    fn effects() {
        let a = analyze("rm -rf /tmp/x");
        let rm = &a.commands[0];
        assert_eq!(rm.effects.len(), 1);
        assert!(rm.effects[0].recursive);
        let a = analyze("curl -s x | sh");
        assert_eq!(a.commands[1].runs_code_from, vec!["curl", "-s", "x"]);
        let a = analyze("cp a b c/");
        assert_eq!(a.commands[0].effects.len(), 3);
    }
}

//! A second, deliberately blunt look at a call before anything in it may be allowed.
//!
//! The analyzer (`shell`, `commands`, `programs`) understands a command in depth; this module
//! does not try to. It scans the command text for constructs that a red-team pass showed the
//! analyzer could misjudge, and for each one found the call is at most `ask` (a "not
//! understood" problem). It can only ever turn an allow into an ask, never the other way, so a
//! false alarm costs a prompt and a miss here is still covered by the analyzer.
//!
//! What it refuses to allow (each with the reason given to the user):
//! - parameter expansions with any operator (`${x@P}`, `${!x}`, `${@:x}`, `${x:-...}`, ...):
//!   prompt expansion, indirection and arithmetic offsets can run `$(...)` from a value;
//! - expanding an environment variable other than a few inert ones (`$MAESTRO_OPERATOR_TOKEN`,
//!   any `$API_KEY`): the environment may hold credentials;
//! - `env -S` in any spelling (it splits a string into a new command line);
//! - `cd`/`pushd` to anything but a plain literal path, or through `builtin`/`command`/`exec`
//!   (later relative paths would be judged against the wrong directory);
//! - `git` with `-C`, `-c`, `--git-dir`, `--work-tree`, after a `cd` in the same line (an
//!   embedded repository's config can run commands), with `%G` in a format (runs
//!   `gpg.program`), with pathspec magic, stage-number revisions, `cat-file`, `--untracked`,
//!   `--no-index`, `--no-exclude-standard`; `show`, `diff`, `grep`, `whatchanged` and `log`
//!   with patches (tracked contents, committed secrets included);
//! - `xargs -a FILE` (reads any file into the command line);
//! - response files (`@file` operands: binutils and others read arguments from any file);
//! - globs in the operands of programs that print file contents (a glob can reach a symlink to
//!   a token or a secret-looking file);
//! - recursive content searches (`grep -r`, `rg`) and `diff` (directories are compared file by
//!   file): they read every file below, secrets included;
//! - `jq` programs that read the environment or other files (`env`, `$ENV`, `input`, `import`,
//!   `include`).
//!
//! For the Grep tool: content and count output (a recursive read of file contents), no `glob`
//! or `type` filter (every file below, secrets included: each match answers a question about
//! their contents), and filters naming secret-looking files.

use serde_json::Value;

/// Environment variables whose expansion is harmless to allow.
const INERT_VARS: &[&str] = &[
    "HOME", "PWD", "OLDPWD", "USER", "LOGNAME", "TMPDIR", "HOSTNAME", "LANG", "TERM", "SHLVL",
    "RANDOM", "LINENO", "SECONDS", "COLUMNS", "LINES",
];

/// Programs that print the contents of the files they are given.
const CONTENT_READERS: &[&str] = &[
    "cat",
    "head",
    "tail",
    "less",
    "more",
    "xxd",
    "od",
    "hexdump",
    "base64",
    "base32",
    "strings",
    "nl",
    "tac",
    "rev",
    "fold",
    "fmt",
    "expand",
    "unexpand",
    "paste",
    "join",
    "sort",
    "uniq",
    "cut",
    "wc",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "diff",
    "cmp",
    "comm",
    "jq",
    "sed",
    "awk",
    "file",
    "column",
    "tr",
    "git",
    "tee",
    "xargs",
    "sum",
];

/// Words that only run the next word as the command.
const PREFIXES: &[&str] = &[
    "sudo", "nice", "nohup", "time", "command", "builtin", "exec", "stdbuf", "setsid", "ionice",
    "chrt", "taskset", "unshare", "flock", "timeout", "xargs", "env",
];

/// Fragments of file names that look like secrets (for Grep tool filters).
const SECRET_HINTS: &[&str] = &[
    "env",
    "key",
    "pem",
    "token",
    "secret",
    "credential",
    "passw",
    "id_rsa",
    "id_ed",
    "netrc",
    "npmrc",
    "pypirc",
    "p12",
    "pfx",
    "kube",
    "aws",
];

/// Why a Bash command must not be allowed, if it must not.
pub(crate) fn bash_problem(command: &str) -> Option<String> {
    dialect_problem(command)
        .or_else(|| expansion_problem(command))
        .or_else(|| {
            let segments = segments(command);
            let mut cd_seen = false;
            for words in &segments {
                if let Some(p) = segment_problem(words, cd_seen) {
                    return Some(p);
                }
                if words
                    .iter()
                    .any(|w| w == "cd" || w == "pushd" || w == "popd")
                {
                    cd_seen = true;
                }
            }
            None
        })
}

/// The same second look on one command as the analyzer parsed it (quotes and backslashes
/// removed, wrappers such as `timeout 5s`, `env -u X`, `\\git` or `coproc` already taken off),
/// so that a spelling the text scan above reads differently from bash cannot hide it. A `cd`
/// earlier in the line shows as a working directory other than the session's.
pub(crate) fn command_problem(c: &super::commands::Analyzed) -> Option<String> {
    let words: Vec<String> = c
        .argv
        .iter()
        .map(|w| w.value.clone().unwrap_or_else(|| w.raw.clone()))
        .collect();
    if words.is_empty() {
        return None;
    }
    segment_problem(&words, c.cwd != super::paths::CwdState::Session)
}

/// ripgrep file types of source code and docs (not config formats, which hold secrets).
const SOURCE_TYPES: &[&str] = &[
    "rust", "ts", "js", "py", "go", "java", "kotlin", "swift", "c", "cpp", "cs", "rb", "php",
    "scala", "elixir", "erlang", "haskell", "lua", "dart", "zig", "md", "markdown", "html", "css",
    "sass", "vue", "svelte", "sh", "sql", "proto", "rst", "tex",
];

/// File names of secrets a Grep glob must not select (ripgrep matches a glob without `/`
/// against the file name, hidden files included): the secret names the checks list, by
/// example (`token.txt` for `*.txt`, red team stop 26).
const SECRET_FILE_EXAMPLES: &[&str] = &[
    ".env",
    ".env.local",
    ".envrc",
    "token",
    "token.txt",
    "token.json",
    "api_token",
    "github_token",
    "deploy-token",
    "x.token",
    "operator.token",
    "ingest.token",
    "secret.txt",
    "secrets.txt",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    "secrets.toml",
    "secrets.env",
    ".secrets",
    "credentials",
    "credentials.json",
    "credentials.toml",
    "credentials.txt",
    ".credentials.json",
    "application_default_credentials.json",
    "client_secret_1.json",
    "service-account.json",
    "config.json",
    "hosts.yml",
    "config",
    "kubeconfig",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "id_dsa",
    "x.pem",
    "x.key",
    "x.p12",
    "x.pfx",
    "x.p8",
    "x.jks",
    "x.keystore",
    "x.kdbx",
    ".npmrc",
    ".netrc",
    ".pypirc",
    ".pgpass",
    ".my.cnf",
    ".htpasswd",
    ".vault-token",
    ".git-credentials",
    ".boto",
    ".s3cfg",
    "terraform.tfstate",
    "prod.tfvars",
    ".terraformrc",
    ".clasprc.json",
    ".claude.json",
    ".dev.vars",
    "password.txt",
    "passwords.txt",
    "rclone.conf",
    "settings.xml",
    "gradle.properties",
    "auth.json",
    ".bash_history",
    ".zsh_history",
    "logins.json",
    "key4.db",
];

/// Whether a Grep `glob` (braces expanded; its last component, as ripgrep matches a glob
/// without `/` against file names) selects a file named like a secret.
fn glob_selects_secret(glob: &str) -> bool {
    super::glob::expand_braces(glob).iter().any(|g| {
        let name = g.rsplit('/').next().unwrap_or(g);
        let name = if name == "**" { "*" } else { name };
        SECRET_FILE_EXAMPLES
            .iter()
            .any(|e| super::glob::glob_match(name, e, false))
    })
}

/// Why a non-Bash tool call must not be allowed, if it must not.
pub(crate) fn tool_problem(tool_name: &str, input: &Value) -> Option<String> {
    if tool_name != "Grep" {
        return None;
    }
    let mode = input.get("output_mode").and_then(Value::as_str);
    if matches!(mode, Some("content") | Some("count")) {
        return Some(
            "Grep printing file contents searches every file below its path, secret files included"
                .into(),
        );
    }
    // A filter that keeps secrets out: a glob that selects (ripgrep's `!glob` only excludes,
    // so everything else is searched), or a type of source files (config-like types such as
    // json, yaml, toml cover `credentials.json`, `secrets.yaml`).
    let glob_filters = input
        .get("glob")
        .and_then(Value::as_str)
        .is_some_and(|g| !g.trim().is_empty() && !g.trim_start().starts_with('!'));
    let type_filters = input
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| SOURCE_TYPES.contains(&t));
    if !glob_filters && !type_filters {
        return Some(
            "Grep without a glob or source-type filter searches every file below its path, secret files included (each match is an answer about their contents)"
                .into(),
        );
    }
    if let Some(g) = input
        .get("glob")
        .and_then(Value::as_str)
        .filter(|g| !g.trim_start().starts_with('!'))
    {
        if glob_selects_secret(g) {
            return Some(format!(
                "Grep's glob {g:?} selects files named like secrets"
            ));
        }
    }
    for key in ["glob", "path", "type"] {
        if let Some(v) = input.get(key).and_then(Value::as_str) {
            let lower = v.to_ascii_lowercase();
            if SECRET_HINTS.iter().any(|h| lower.contains(h)) {
                return Some(format!(
                    "Grep's {key} filter {v:?} names files that look like secrets"
                ));
            }
        }
    }
    None
}

/// The delimiter of a here-document in `command` that starts a line with more text after it
/// (`EOF)`), if any.
fn here_doc_delimiter_with_text_after(command: &str) -> Option<String> {
    let mut rest = command;
    let mut delims = Vec::new();
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        if let Some(string) = after.strip_prefix('<') {
            // `<<<` is a here-string.
            rest = string;
            continue;
        }
        let word: String = after
            .trim_start_matches('-')
            .trim_start()
            .chars()
            .filter(|c| !matches!(c, '\'' | '"' | '\\'))
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            delims.push(word);
        }
        rest = after;
    }
    command.lines().find_map(|line| {
        let line = line.trim_start_matches('\t');
        delims
            .iter()
            .find(|d| {
                line.strip_prefix(d.as_str())
                    .and_then(|after| after.chars().next())
                    .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '_'))
            })
            .cloned()
    })
}

/// `${...}` with anything but a plain name, and `$NAME` of a variable that may hold secrets.
/// Text the parser may read differently from the shell that runs it: a line continuation
/// next to a here-document (bash joins `E\<newline>OF` into its delimiter and ends the body
/// early), glob qualifiers and extended globs (`*(e:CMD:)` runs CMD in zsh, Claude Code's
/// shell on macOS; `@(x)` in bash with extglob), and zsh's `=(cmd)` process substitution.
fn dialect_problem(command: &str) -> Option<String> {
    // bash ends a here-document inside `$(...)`/`<(...)` at a line `EOF)`, this parser only
    // at a bare `EOF`: the lines between run as commands in bash but read as text here.
    if let Some(delim) = here_doc_delimiter_with_text_after(command) {
        return Some(format!(
            "a here-document delimiter `{delim}` followed by more text on its line"
        ));
    }
    if command.contains("<<") && command.contains("\\\n") {
        return Some("a line continuation in a command with a here-document".into());
    }
    let b = command.as_bytes();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' if !single => {
                i += 2;
                continue;
            }
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'(' if !single && !double && i > 0 => {
                let prev = b[i - 1];
                if matches!(prev, b'*' | b'?' | b'+' | b'@' | b'!' | b']') {
                    return Some(
                        "a glob qualifier or extended glob (zsh runs code in `*(e:...:)`)".into(),
                    );
                }
                let word_start =
                    i < 2 || matches!(b[i - 2], b' ' | b'\t' | b'\n' | b';' | b'|' | b'&');
                if prev == b'=' && word_start {
                    return Some("zsh process substitution `=(...)`".into());
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn expansion_problem(command: &str) -> Option<String> {
    let b = command.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        let Some(&next) = b.get(i + 1) else { break };
        if next == b'{' {
            let start = i + 2;
            let Some(len) = command[start..].find('}') else {
                return Some("an unterminated ${...} expansion".into());
            };
            let inner = &command[start..start + len];
            if !is_name(inner) {
                return Some(format!(
                    "the expansion ${{{inner}}} has an operator (prompt expansion, indirection or arithmetic can run code)"
                ));
            }
            if let Some(p) = variable_problem(inner) {
                return Some(p);
            }
            i = start + len + 1;
            continue;
        }
        if next == b'_' || next.is_ascii_alphabetic() {
            let start = i + 1;
            let end = command[start..]
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .map_or(command.len(), |n| start + n);
            if let Some(p) = variable_problem(&command[start..end]) {
                return Some(p);
            }
            i = end;
            continue;
        }
        i += 1;
    }
    None
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// An environment variable (any upper-case letter in its name) that is not inert.
fn variable_problem(name: &str) -> Option<String> {
    (name.chars().any(|c| c.is_ascii_uppercase()) && !INERT_VARS.contains(&name))
        .then(|| format!("expands ${name}: the environment may hold credentials"))
}

/// The command split into simple-command word lists (an approximation: quotes removed,
/// separators `; & | ( ) \n` and command substitutions start a new segment).
fn segments(command: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let flush_word = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None => match c {
                '\'' | '"' => quote = Some(c),
                ' ' | '\t' => flush_word(&mut word, &mut words),
                ';' | '&' | '|' | '(' | ')' | '\n' | '`' => {
                    flush_word(&mut word, &mut words);
                    if !words.is_empty() {
                        out.push(std::mem::take(&mut words));
                    }
                }
                _ => word.push(c),
            },
        }
    }
    flush_word(&mut word, &mut words);
    if !words.is_empty() {
        out.push(words);
    }
    out
}

/// The program of a simple command and its arguments, past assignments and prefixes.
fn program(words: &[String]) -> (Option<&str>, &[String], bool) {
    let mut i = 0;
    let mut prefixed = false;
    while i < words.len() {
        let w = words[i].as_str();
        // Reserved words that start a compound command: the program follows them.
        if matches!(
            w,
            "{" | "}" | "!" | "if" | "then" | "else" | "elif" | "do" | "while" | "until"
        ) {
            i += 1;
            continue;
        }
        if w.contains('=') && !w.starts_with('-') && is_name(w.split('=').next().unwrap_or("")) {
            i += 1;
            continue;
        }
        if PREFIXES.contains(&w) {
            prefixed = true;
            i += 1;
            // Their own options and numbers (`timeout 5`, `nice -n 1`, `env -i`).
            while i < words.len()
                && (words[i].starts_with('-')
                    || words[i].chars().all(|c| c.is_ascii_digit() || c == '.'))
            {
                i += 1;
            }
            continue;
        }
        return (Some(w), &words[i + 1..], prefixed);
    }
    (None, &[], prefixed)
}

/// A `git log` option that prints patches.
fn is_patch_flag(a: &str) -> bool {
    [
        "--patch",
        "--unified",
        "--word-diff",
        "--color-words",
        "--function-context",
        "--ext",
        "--text",
        "--binary",
        "--cc",
        "--dd",
        "--remerge-diff",
        "--diff-merges",
        "--full-diff",
        "--textconv",
        "--raw",
        "--patch-with",
        "--output",
        "--check",
    ]
    .iter()
    .any(|p| a.starts_with(p))
        || (a.starts_with('-')
            && !a.starts_with("--")
            && a.contains(['p', 'u', 'U', 'W', 'c', 'm']))
}

/// A path argument that names one file: not the whole tree (`.`, `/`, `*`), and not what looks
/// like a directory (a pathspec covers everything below it, `app/.env` included): the last
/// component has an extension and no trailing `/`.
fn is_narrow_path(p: &str) -> bool {
    let t = p.trim_start_matches("./");
    let last = t.rsplit('/').next().unwrap_or(t);
    let file_like =
        !t.ends_with('/') && last.rfind('.').is_some_and(|i| i > 0 && i + 1 < last.len());
    file_like
        && !(t.is_empty()
            || t == "."
            || t == ".."
            || t.starts_with("../")
            || p.starts_with('/')
            || has_glob(p))
}

/// `HEAD`, `@`, `HEAD~2`, `HEAD^`, `ORIG_HEAD`: a commit relative to where the repository is
/// (never a blob).
fn is_head_relative(rev: &str) -> bool {
    let base_end = rev.find(['~', '^']).unwrap_or(rev.len());
    let (base, rest) = rev.split_at(base_end);
    matches!(
        base,
        "HEAD" | "@" | "ORIG_HEAD" | "FETCH_HEAD" | "MERGE_HEAD"
    ) && rest
        .chars()
        .all(|c| c == '~' || c == '^' || c.is_ascii_digit())
}

/// A revision or range (`A..B`, `A...B`) whose ends are all relative to HEAD.
fn is_head_relative_range(rev: &str) -> bool {
    rev.split("..")
        .map(|side| side.trim_start_matches('.'))
        .all(|side| side.is_empty() || is_head_relative(side))
}

/// A `git diff` option whose output names files or counts lines, never contents.
fn is_content_free_flag(a: &str) -> bool {
    let name = a.split('=').next().unwrap_or(a);
    matches!(
        name,
        "--stat"
            | "--name-only"
            | "--name-status"
            | "--shortstat"
            | "--numstat"
            | "--dirstat"
            | "--summary"
            | "--quiet"
    )
}

/// A grep option that makes it recurse into directories.
fn is_recursive_flag(a: &str) -> bool {
    // Any abbreviation getopt_long would accept (`--rec`, `--dir=recurse`, `--der`); shorter
    // prefixes are ambiguous for grep and refused by it, taking them too costs nothing.
    let long = a
        .strip_prefix("--")
        .map(|l| l.split('=').next().unwrap_or(l))
        .is_some_and(|name| {
            !name.is_empty()
                && ["recursive", "dereference-recursive", "directories"]
                    .iter()
                    .any(|full| full.starts_with(name))
        });
    // `-d recurse`, also at the end of a cluster (`-Ed recurse`).
    long || (a.starts_with('-') && !a.starts_with("--") && a.contains('d'))
        || (a.starts_with('-') && !a.starts_with("--") && a.contains(['r', 'R']))
}

fn has_glob(word: &str) -> bool {
    word.contains(['*', '?', '['])
}

fn segment_problem(words: &[String], cd_before: bool) -> Option<String> {
    // `env -S` / `--split-string` anywhere among the words of `env`.
    if let Some(pos) = words.iter().position(|w| w == "env") {
        for w in &words[pos + 1..] {
            if w.starts_with("--s")
                || (w.starts_with('-') && !w.starts_with("--") && w.contains('S'))
            {
                return Some("`env -S` splits a string into a new command line".into());
            }
            if !w.starts_with('-') {
                break;
            }
        }
    }
    // `xargs -a FILE` reads FILE (any file) into the command line.
    if let Some(pos) = words.iter().position(|w| w == "xargs") {
        for w in &words[pos + 1..] {
            if w.starts_with("--a")
                || (w.starts_with('-') && !w.starts_with("--") && w.contains('a'))
            {
                return Some("`xargs -a` reads its arguments from a file".into());
            }
            if !w.starts_with('-') {
                break;
            }
        }
    }
    if words.iter().any(|w| w.len() > 1 && w.starts_with('@')) {
        return Some("an @file operand makes the program read its arguments from a file".into());
    }
    let (prog, args, prefixed) = program(words);
    let prog = prog?;
    let base = prog.rsplit('/').next().unwrap_or(prog);
    match base {
        "cd" | "pushd" | "popd" => {
            if prefixed {
                return Some(format!("`{base}` through a prefix is not tracked"));
            }
            if args
                .iter()
                .any(|a| a.starts_with('-') || a.contains(['{', '}', '*', '?', '[', '$', '`']))
            {
                return Some(format!("`{base}` to a directory only known at run time"));
            }
        }
        "git" => {
            if cd_before {
                return Some(
                    "git after a `cd`: another repository's config can run commands".into(),
                );
            }
            for a in args {
                let a = a.as_str();
                if a == "-C"
                    || a == "-c"
                    || a.starts_with("--git-dir")
                    || a.starts_with("--work-tree")
                    || a.starts_with("--exec-path")
                    || a.starts_with("--namespace")
                {
                    return Some(format!(
                        "git {a} changes which repository or config is used"
                    ));
                }
                if ["%G", "%+G", "%-G", "% G"].iter().any(|g| a.contains(g))
                    || a.to_ascii_lowercase().contains("signature")
                {
                    return Some("a signature check runs gpg.program".into());
                }
                if a.starts_with(":(")
                    || a.starts_with(":/")
                    || a.starts_with(":!")
                    || a.starts_with(":^")
                {
                    return Some("git pathspec magic".into());
                }
                if a.len() > 2 && a.starts_with(':') && a.as_bytes()[1].is_ascii_digit() {
                    return Some("a stage-number revision (:N:path) reads a file".into());
                }
                if matches!(
                    a,
                    "cat-file" | "--untracked" | "--no-index" | "--no-exclude-standard"
                ) {
                    return Some(format!(
                        "git {a} reads files beyond the repository's tracked content"
                    ));
                }
            }
            // Patches and tracked-file contents print whatever is tracked, a committed `.env`
            // included: asked.
            let sub = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str);
            // Scoped to named paths (`-- path`, `REV:path`), which the analyzer judges as reads.
            // `.` (or `/`, `*`, ...) names every tracked file: not a scope.
            let dashdash = args.iter().position(|a| a == "--");
            let paths = dashdash.map(|i| &args[i + 1..]).unwrap_or_default();
            let rev_paths: Vec<&String> = args[..dashdash.unwrap_or(args.len())]
                .iter()
                .filter(|a| !a.starts_with('-') && a.contains(':'))
                .collect();
            // `REV:path` prints that one file; an empty or whole-tree path (`HEAD:`), or a
            // colon in a pattern or option value (`-e :`, `--src-prefix a:`), is no scope.
            let rev_path_ok = |a: &str| {
                a.split_once(':')
                    .is_some_and(|(rev, path)| is_head_relative_range(rev) && is_narrow_path(path))
            };
            let scoped = (!paths.is_empty() && paths.iter().all(|p| is_narrow_path(p)))
                || (!rev_paths.is_empty()
                    && rev_paths.iter().all(|a| rev_path_ok(a))
                    && sub.is_some_and(|s| s != "grep"));
            if let Some(sub @ ("show" | "diff" | "grep" | "whatchanged" | "format-patch")) = sub {
                if !scoped {
                    return Some(format!(
                        "git {sub} prints tracked contents, which may include committed secrets"
                    ));
                }
                // A revision may name a blob (a hex id, or a tag pointing at one): `git show
                // <blob> -- README` prints the blob whatever the path. Only revisions relative
                // to HEAD (and `REV:path`, whose path is judged) are known to be commits;
                // `git diff` with name/stat output prints no contents whatever they are.
                let before = dashdash.map_or(args, |i| &args[..i]);
                let revisions = before
                    .iter()
                    .skip_while(|a| a.as_str() != sub)
                    .skip(1)
                    .filter(|a| !a.starts_with('-'));
                let content_free = sub == "diff"
                    && args.iter().any(|a| is_content_free_flag(a))
                    && !args.iter().any(|a| is_patch_flag(a));
                // `git grep` takes its pattern there (unless `-e`/`-f` give it) and searches a
                // blob named as a revision whatever the path (red team, stop 26), and a
                // `REV:dir` tree with the paths relative to it: only revisions relative to HEAD.
                if sub == "grep" {
                    let takes_value = |a: &str| {
                        matches!(
                            a,
                            "-e" | "-f"
                                | "--regexp"
                                | "--file"
                                | "-A"
                                | "-B"
                                | "-C"
                                | "-m"
                                | "--max-count"
                                | "--max-depth"
                                | "--threads"
                                | "--context"
                                | "--after-context"
                                | "--before-context"
                        )
                    };
                    let pattern_given = before.iter().any(|a| {
                        a.starts_with("-e")
                            || a.starts_with("-f")
                            || a.starts_with("--regexp")
                            || a.starts_with("--file")
                    });
                    let after_sub = before.iter().skip_while(|a| a.as_str() != sub).skip(1);
                    let mut positionals = Vec::new();
                    let mut skip_next = false;
                    for a in after_sub {
                        if std::mem::take(&mut skip_next) {
                            continue;
                        }
                        if a.starts_with('-') {
                            skip_next = takes_value(a);
                        } else {
                            positionals.push(a.as_str());
                        }
                    }
                    let mut revs = positionals.into_iter().skip(usize::from(!pattern_given));
                    if revs.any(|r| r.contains(':') || !is_head_relative_range(r)) {
                        return Some(
                            "git grep in a revision that may name a blob or a subtree".into(),
                        );
                    }
                }
                if sub != "grep"
                    && !content_free
                    && revisions
                        .clone()
                        .any(|r| !(rev_path_ok(r) || is_head_relative_range(r)))
                {
                    return Some(format!(
                        "git {sub} of a revision that may name a blob (not relative to HEAD)"
                    ));
                }
                // A plain revision next to `REV:path` prints its whole patch (`git show HEAD
                // HEAD:README`): only named paths after `--` scope it.
                if sub != "grep"
                    && !content_free
                    && paths.is_empty()
                    && revisions.clone().any(|r| !r.contains(':'))
                {
                    return Some(format!(
                        "git {sub} of a whole revision prints every file it changed"
                    ));
                }
                // A grep pattern or option value could hold the colon: `git grep` is scoped
                // only by named paths after `--`.
                if sub == "grep" && paths.is_empty() {
                    return Some(
                        "git grep without named files after `--` searches every tracked file"
                            .into(),
                    );
                }
            }
            // Commands that run a textconv driver on file contents: a `.gitattributes` in the
            // project picks the driver, the user's config defines it (sops or gpg textconv
            // print decrypted secrets). `--no-textconv` turns it off.
            let no_textconv = args.iter().any(|a| a == "--no-textconv");
            let pickaxe = args
                .iter()
                .any(|a| a.starts_with("-S") || a.starts_with("-G") || a.starts_with("--pickaxe"));
            // Name/stat output only when nothing turns the patch back on (`--stat -p`).
            let patchless = args.iter().any(|a| is_content_free_flag(a))
                && !args.iter().any(|a| is_patch_flag(a));
            // `git diff` also runs the external diff command (`diff.<driver>.command`) that
            // `.gitattributes` picks, unless `--no-ext-diff`.
            if sub == Some("diff") && !patchless && !args.iter().any(|a| a == "--no-ext-diff") {
                return Some(
                    "git diff runs the external diff driver `.gitattributes` names (add --no-ext-diff)"
                        .into(),
                );
            }
            if !no_textconv
                && (sub == Some("blame")
                    || sub == Some("annotate")
                    || (matches!(sub, Some("log" | "whatchanged")) && pickaxe)
                    || (matches!(sub, Some("show" | "diff"))
                        && !patchless
                        // `git show REV:path` prints the blob as stored (textconv only with
                        // an explicit `--textconv`).
                        && !(sub == Some("show")
                            && args
                                .iter()
                                .filter(|a| !a.starts_with('-') && *a != "show")
                                .all(|a| a.contains(':')))))
            {
                return Some(format!(
                    "git {} runs the textconv driver `.gitattributes` names (add --no-textconv)",
                    sub.unwrap_or_default()
                ));
            }
            if sub == Some("log") && args.iter().any(|a| is_patch_flag(a)) {
                return Some(
                    "git log with patches prints whole history diffs (secrets ever committed)"
                        .into(),
                );
            }
        }
        "grep" | "egrep" | "fgrep" if args.iter().any(|a| is_recursive_flag(a)) => {
            return Some("a recursive grep reads every file below, secret files included".into());
        }
        // Bare `set` prints every shell variable, the exported environment included.
        "set" if args.is_empty() => {
            return Some(
                "`set` with no arguments prints the environment, credentials included".into(),
            );
        }
        "rg" => return Some("rg reads every file below its paths, secret files included".into()),
        "diff" => {
            return Some(
                "diff of directories compares every file in them, secret files included".into(),
            )
        }
        "jq" if args.iter().any(|a| {
            ["env", "$ENV", "input", "import", "include", "$__prog"]
                .iter()
                .any(|k| a.contains(k))
        }) =>
        {
            return Some("a jq program that reads the environment or other files".into());
        }
        _ => {}
    }
    if CONTENT_READERS.contains(&base) && args.iter().any(|a| has_glob(a)) {
        return Some(format!(
            "`{base}` with a glob: it can reach a symlink to a token or a secret-looking file"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_team_bypasses_are_caught() {
        for c in [
            r#"env -S'sh -c "touch /tmp/x"' ls"#,
            r#"timeout 5 env -iS'sh -c "touch x"' ls"#,
            "echo '$(touch rt-bc)' ${BASH_COMMAND@P}",
            "for x in '$(touch /tmp/rt-q)'; do echo ${x@P}; done",
            r#"for x in 'a[$(touch f)]'; do echo "${@:x}"; done"#,
            r#"for x in 'a[$(touch f)]'; do echo "${!x}"; done"#,
            r#"echo "${x:-'$(touch f)'}""#,
            "git -C fx/evil.git status",
            "cd fx/evil.git && git status",
            "git log --format=%G? -1",
            "cd {/root/.local/share/maestro,} && cat *",
            "builtin cd /root/.local/share/maestro && cat operator.token",
            "strings @/etc/shadow",
            "cat a/*",
            "xxd a/t?k",
            "echo $MAESTRO_OPERATOR_TOKEN",
            "jq -n env",
            "git show :0:.env",
            "git grep --untracked --no-exclude-standard -e SECRET",
            "git log -p -- '*env'",
            "grep -r SECRET .",
            "grep -Rn SECRET src",
            "rg SECRET",
            "diff a b",
            "cat certs/*",
            "git cat-file --batch",
            "xargs -a ../data/operator.token echo",
            "xargs --arg-file=creds echo",
            "xargs -0a .env echo",
            "git show",
            "git diff --cached",
            "git grep -h ''",
            "git log -U3",
            "git log -pU1",
            "git whatchanged -p",
            "git diff -- '*env'",
            "git show HEAD -- .e*",
            "set",
            "set | grep TOKEN",
            "{ set; }",
        ] {
            assert!(bash_problem(c).is_some(), "not caught: {c}");
        }
    }

    #[test]
    fn everyday_commands_pass() {
        for c in [
            "ls -la",
            "ls src/*.rs",
            "git status",
            "git status --short",
            "xargs -n1 echo",
            "set -euo pipefail",
            "git log --oneline -20",
            "cat src/main.rs",
            "grep -n fn src/lib.rs",
            "echo $HOME",
            "cd src && ls",
            "for f in a b; do echo $f; done",
            "wc -l Cargo.toml",
            "echo \"${HOME}\"",
        ] {
            assert_eq!(bash_problem(c), None, "{c}");
        }
    }

    #[test]
    fn grep_tool_reading_contents_or_naming_secrets_is_asked() {
        let g = |v: Value| tool_problem("Grep", &v);
        assert!(g(serde_json::json!({"pattern": "x", "output_mode": "content"})).is_some());
        assert!(g(serde_json::json!({"pattern": "x", "glob": ".env*"})).is_some());
        assert!(g(serde_json::json!({"pattern": "x", "path": "certs/server.key"})).is_some());
        assert!(g(serde_json::json!({"pattern": "x", "path": "src"})).is_some());
        assert!(g(serde_json::json!({"pattern": "x", "path": "src", "glob": "*.rs"})).is_none());
        assert!(g(serde_json::json!({"pattern": "x", "type": "rust"})).is_none());
        for glob in [
            "*.txt",
            "config.json",
            "hosts.yml",
            "config",
            "*",
            "**",
            "*.{rs,yaml}",
            "a/**/*.toml",
        ] {
            assert!(
                g(serde_json::json!({"pattern": "x", "glob": glob})).is_some(),
                "{glob}"
            );
        }
        assert!(g(serde_json::json!({"pattern": "x", "type": "txt"})).is_some());
        assert!(g(serde_json::json!({"pattern": "x", "glob": "*.{rs,ts}"})).is_none());
        assert!(tool_problem("Read", &serde_json::json!({})).is_none());
    }
}

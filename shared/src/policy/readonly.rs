//! Which programs are provably read-only, and with which arguments.
//!
//! Only programs on the allow list of [`super::programs`] can be auto-allowed, and only with the
//! options listed there (parsed by [`super::options`] the way the program parses them). The
//! files a listed program reads are returned so that the rules can check them; anything not
//! on the list, or not understood, is [`Role::Other`] (asked by default).

use super::options::{self, Operands};
use super::programs::{self, FIND_PREDICATES, SED};
use super::words::Word;

/// How a program may be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Touches no files.
    Pure,
    /// Reads the files in its arguments and nothing else.
    Reader,
    /// Anything else.
    Other,
}

/// A classification and the files a reader reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    /// The role.
    pub role: Role,
    /// Files read (for a reader), besides the working directory.
    pub reads: Vec<Word>,
    /// The reads cover whole trees (`grep -r`, `rg`, `diff -r`).
    pub recursive: bool,
}

impl Classified {
    fn other() -> Classified {
        Classified {
            role: Role::Other,
            reads: Vec::new(),
            recursive: false,
        }
    }

    fn pure() -> Classified {
        Classified {
            role: Role::Pure,
            reads: Vec::new(),
            recursive: false,
        }
    }

    fn reader(reads: Vec<Word>, recursive: bool) -> Classified {
        Classified {
            role: Role::Reader,
            reads,
            recursive,
        }
    }
}

/// Shell builtins that only change the shell's own state in ways the rules do not depend on.
const SHELL_STATE: &[&str] = &[
    "cd", "pushd", "popd", "dirs", "jobs", "wait", "shift", "return", "exit", "break", "continue",
];

/// `set` options that are inert (bash 5.2 `set` builtin): `-e`, `-u`, `-x`, `-o pipefail`...
fn set_is_inert(args: &[Option<&str>]) -> bool {
    args.iter().all(|a| match a {
        Some(a) => {
            matches!(
                *a,
                "pipefail" | "errexit" | "nounset" | "xtrace" | "noclobber" | "noglob" | "--"
            ) || ((a.starts_with('-') || a.starts_with('+'))
                && a.len() > 1
                && a[1..].chars().all(|c| "euxvEBCfo".contains(c)))
        }
        None => false,
    })
}

/// Classifies `program` (a base name) with its arguments.
pub(crate) fn classify(program: &str, args: &[Word]) -> Classified {
    let values: Vec<Option<&str>> = args.iter().map(|w| w.value.as_deref()).collect();
    if program == "command" {
        let query = values
            .first()
            .copied()
            .flatten()
            .is_some_and(|a| a == "-v" || a == "-V");
        return if query && values.iter().all(Option::is_some) {
            Classified::pure()
        } else {
            Classified::other()
        };
    }
    // `--version` alone is not read-only in general: toolchain proxies and version managers
    // (rustup's `cargo`/`rustc` with a `rust-toolchain.toml` `path`, `go` with a `toolchain`
    // line, `yarn` with `yarnPath`, asdf/mise shims with `path:` versions, corepack) run what
    // the project names. Programs on the allow lists accept it through their own specs.
    // xxd compares only the first two characters of an option (`-ps` is `-p`, and the next
    // word is then a file, a second one written): only plain options are understood, values
    // attached only when numeric (`-c16`).
    if program == "xxd"
        && values.iter().any(|v| {
            v.is_some_and(|v| {
                v.starts_with('-')
                    && v.len() > 2
                    && v != "--"
                    && !(matches!(v.as_bytes()[1], b'c' | b'g' | b'l' | b's' | b'o')
                        && v[2..].trim_start_matches(['+', '-']).parse::<u64>().is_ok())
            })
        })
    {
        return Classified::other();
    }
    // binutils read options from `@file` operands (any file, `@/etc/shadow`).
    if matches!(
        program,
        "strings" | "objdump" | "readelf" | "nm" | "size" | "addr2line" | "c++filt" | "ar"
    ) && values.iter().any(|v| v.is_none_or(|v| v.starts_with('@')))
    {
        return Classified::other();
    }
    // jq can read the environment (`env`, `$ENV`), more input (`input`, `inputs`) and
    // modules: refused when the filter mentions them.
    if program == "jq"
        && values.iter().any(|v| {
            v.is_none_or(|v| {
                [
                    "env",
                    "ENV",
                    "input",
                    "$__",
                    "import",
                    "include",
                    "modulemeta",
                    "getpath",
                ]
                .iter()
                .any(|k| v.contains(k))
            })
        })
    {
        return Classified::other();
    }
    if SHELL_STATE.contains(&program) {
        return Classified::pure();
    }
    match program {
        "set" => {
            return if set_is_inert(&values) {
                Classified::pure()
            } else {
                Classified::other()
            }
        }
        // `-v`/`-R` test variables (an array subscript is evaluated: `test -v 'a[$(x)]'`).
        "test" | "[" => {
            let ok = values
                .iter()
                .all(|v| v.is_some_and(|v| v != "-v" && v != "-R"));
            return if ok {
                Classified::pure()
            } else {
                Classified::other()
            };
        }
        // `printf -v VAR` assigns (and evaluates an array subscript); options come first.
        "printf" => {
            let literal_format = values
                .first()
                .is_some_and(|f| f.is_some_and(|f| !f.starts_with('-')));
            return if literal_format {
                Classified::pure()
            } else {
                Classified::other()
            };
        }
        "sed" => return sed(args),
        "git" => return git(args),
        "find" => return find(args),
        _ => {}
    }
    let Some(spec) = programs::spec_of(program) else {
        return Classified::other();
    };
    let Ok(parsed) = options::parse(spec, args) else {
        return Classified::other();
    };
    if program == "jq"
        && parsed
            .patterns
            .iter()
            .any(|f| f.contains("import") || f.contains("include"))
    {
        return Classified::other();
    }
    // `date` prints with a `+FORMAT` operand; any other operand sets the clock.
    if program == "date" && parsed.texts.iter().any(|t| !t.starts_with('+')) {
        return Classified::other();
    }
    if spec.operands == Operands::Text && parsed.reads.is_empty() {
        return Classified::pure();
    }
    let recursive = match program {
        "rg" => true,
        "grep" | "egrep" | "fgrep" => parsed
            .options
            .iter()
            .any(|o| matches!(o.as_str(), "-r" | "recursive" | "directories" | "-d")),
        "diff" => parsed
            .options
            .iter()
            .any(|o| matches!(o.as_str(), "-r" | "recursive")),
        _ => false,
    };
    Classified::reader(parsed.reads, recursive)
}

/// `sed` with only the allowed options and scripts that only print, delete and substitute.
fn sed(args: &[Word]) -> Classified {
    match options::parse(&SED, args) {
        Ok(p) if !p.patterns.is_empty() && p.patterns.iter().all(|s| sed_script_safe(s)) => {
            Classified::reader(p.reads, false)
        }
        _ => Classified::other(),
    }
}

/// `find` with only the allowed predicates (no `-exec`, `-delete`, `-fprint`, `-L`, ...).
fn find(args: &[Word]) -> Classified {
    let mut reads = Vec::new();
    let mut i = 0;
    // Roots come first; the expression starts at the first word that starts like one.
    while let Some(w) = args.get(i) {
        match w.value.as_deref() {
            Some(v) if v.starts_with('-') || v == "(" || v == "!" || v == ")" => break,
            Some(_) => i += 1,
            None => return Classified::other(),
        }
    }
    while let Some(w) = args.get(i) {
        let Some(v) = w.value.as_deref() else {
            return Classified::other();
        };
        let Some((_, arity)) = FIND_PREDICATES.iter().find(|(p, _)| *p == v) else {
            return Classified::other();
        };
        if *arity > 0 {
            let Some(value) = args.get(i + 1) else {
                return Classified::other();
            };
            if value.value.is_none() {
                return Classified::other();
            }
            if *arity == 2 {
                reads.push(value.clone());
            }
            i += 1;
        }
        i += 1;
    }
    Classified::reader(reads, false)
}

/// `git` with only allowed global options, subcommands and their options.
fn git(args: &[Word]) -> Classified {
    let mut reads = Vec::new();
    let mut i = 0;
    // Global options (git 2.47 git(1)): `-c`, `--exec-path`, `--git-dir`, `--work-tree`,
    // `--namespace`, `--config-env`, `--super-prefix` and anything else are refused.
    while let Some(w) = args.get(i) {
        match w.value.as_deref() {
            Some(
                "--no-pager"
                | "-P"
                | "--no-optional-locks"
                | "--literal-pathspecs"
                | "--no-replace-objects"
                | "--no-advice",
            ) => i += 1,
            Some(v) if !v.starts_with('-') => break,
            _ => return Classified::other(),
        }
    }
    let Some(sub) = args.get(i).and_then(|w| w.value.as_deref()) else {
        return Classified::other();
    };
    let rest = &args[i + 1..];
    // `%G?`, `%+GS`, `% GK`, ... in a format and `%(signature)` or `--sort=signature` run
    // `gpg.program`; pathspec magic, globs and escapes (`'\.env'` matches `.env`) can reach
    // secret files the path checks do not see.
    for w in rest {
        let Some(v) = w.value.as_deref() else {
            return Classified::other();
        };
        if ["%G", "%+G", "%-G", "% G"].iter().any(|g| v.contains(g))
            || v.to_ascii_lowercase().contains("signature")
            || v.starts_with(":(")
            || (!v.starts_with('-') && v.contains(['*', '?', '[', '\\']))
        {
            return Classified::other();
        }
    }
    let parsed = if let Some(spec) = programs::git_spec(sub) {
        options::parse(&spec, rest)
    } else {
        let action = rest.first().and_then(|w| w.value.as_deref());
        let (spec, rest) = match programs::git_action_spec(sub, action) {
            Some(spec) => (spec, rest.get(1..).unwrap_or_default()),
            None => match programs::git_action_spec(sub, None) {
                Some(spec) => (spec, rest),
                None => return Classified::other(),
            },
        };
        options::parse(&spec, rest)
    };
    match parsed {
        Ok(p) => {
            // `HEAD:.env` shows a file from the repository: judge its path too.
            let in_revision: Vec<Word> = p
                .reads
                .iter()
                .filter_map(|w| w.value.clone())
                .chain(p.texts.iter().cloned())
                .flat_map(|v| {
                    // Every suffix after a `:`: `:0:.env` (stage number), `HEAD:.env`.
                    v.match_indices(':')
                        .map(|(at, _)| {
                            let path = v[at + 1..].trim_start_matches('/');
                            path.strip_prefix("./").unwrap_or(path).to_string()
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|path| !path.is_empty())
                .map(|path| Word::literal(&path))
                .collect();
            reads.extend(p.reads);
            reads.extend(in_revision);
            Classified::reader(reads, false)
        }
        Err(_) => Classified::other(),
    }
}

/// Whether a sed script only prints, deletes and substitutes (GNU sed 4.9): read in one pass
/// the way sed reads it, so a `;` or newline inside a regex or an `s` part is text, not a
/// command separator (`/;/!e id` is an `e` command). Addresses: line numbers, `$`, `first~step`,
/// `addr,+N`, `/regex/` (standard delimiter only), `!`. Commands: `p d q Q = n N P D l h H g G
/// x { }` and `s`/`y` with flags `g p i I m M` and digits. Anything else (`e`, `r`, `R`, `w`,
/// `W`, the `e`/`w` flags, labels and jumps, `a i c`, a custom-delimiter address, a line
/// continuation) is not understood.
fn sed_script_safe(script: &str) -> bool {
    if script.contains("\\\n") {
        return false;
    }
    let c: Vec<char> = script.chars().collect();
    let mut i = 0;
    // Skips a `/regex/` starting at `i` (on the opening `/`); false when it does not close on
    // its line.
    let regex = |i: &mut usize, delim: char| -> bool {
        *i += 1;
        while *i < c.len() {
            match c[*i] {
                '\\' => *i += 2,
                '\n' => return false,
                x if x == delim => {
                    *i += 1;
                    return true;
                }
                _ => *i += 1,
            }
        }
        false
    };
    let address = |i: &mut usize| -> bool {
        match c.get(*i) {
            Some('/') => regex(i, '/'),
            Some('$') => {
                *i += 1;
                true
            }
            Some(d) if d.is_ascii_digit() => {
                while c.get(*i).is_some_and(|d| d.is_ascii_digit()) {
                    *i += 1;
                }
                if c.get(*i) == Some(&'~') {
                    *i += 1;
                    while c.get(*i).is_some_and(|d| d.is_ascii_digit()) {
                        *i += 1;
                    }
                }
                true
            }
            // `\cREGEXc` and anything else.
            _ => false,
        }
    };
    let skip_blanks = |i: &mut usize| {
        while c.get(*i).is_some_and(|x| *x == ' ' || *x == '\t') {
            *i += 1;
        }
    };
    loop {
        while c
            .get(i)
            .is_some_and(|x| matches!(x, ' ' | '\t' | '\n' | ';'))
        {
            i += 1;
        }
        let Some(&first) = c.get(i) else {
            return true;
        };
        if first == '/' || first == '$' || first.is_ascii_digit() {
            if !address(&mut i) {
                return false;
            }
            skip_blanks(&mut i);
            if c.get(i) == Some(&',') {
                i += 1;
                skip_blanks(&mut i);
                if c.get(i) == Some(&'+') || c.get(i) == Some(&'~') {
                    i += 1;
                    if !c.get(i).is_some_and(|d| d.is_ascii_digit()) {
                        return false;
                    }
                    while c.get(i).is_some_and(|d| d.is_ascii_digit()) {
                        i += 1;
                    }
                } else if !address(&mut i) {
                    return false;
                }
            }
            skip_blanks(&mut i);
            if c.get(i) == Some(&'!') {
                i += 1;
                skip_blanks(&mut i);
            }
        }
        let Some(&cmd) = c.get(i) else {
            return false;
        };
        i += 1;
        match cmd {
            // A block opens: its first command follows directly.
            '{' => continue,
            'p' | 'd' | '=' | 'n' | 'N' | 'P' | 'D' | 'h' | 'H' | 'g' | 'G' | 'x' | '}' => {}
            'q' | 'Q' | 'l' => {
                skip_blanks(&mut i);
                while c.get(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
            }
            's' | 'y' => {
                let Some(&delim) = c.get(i) else {
                    return false;
                };
                if delim == '\\' || delim == '\n' || delim == ' ' {
                    return false;
                }
                // Pattern and replacement (escapes honoured; no raw newline).
                if !regex(&mut i, delim) {
                    return false;
                }
                i -= 1;
                if !regex(&mut i, delim) {
                    return false;
                }
                if cmd == 's' {
                    while c.get(i).is_some_and(|f| "gpiImM0123456789".contains(*f)) {
                        i += 1;
                    }
                }
            }
            _ => return false,
        }
        skip_blanks(&mut i);
        // A command ends at `;`, a newline, `}` or the end.
        match c.get(i) {
            None | Some(';' | '\n' | '}') => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(program: &str, args: &[&str]) -> Role {
        let args: Vec<Word> = args.iter().map(|a| Word::literal(a)).collect();
        classify(program, &args).role
    }

    #[test]
    fn classifies() {
        assert_eq!(c("ls", &["-la"]), Role::Reader);
        assert_eq!(c("echo", &["hi"]), Role::Pure);
        assert_eq!(c("sort", &["-o", "x"]), Role::Other);
        assert_eq!(c("sort", &["--o=x"]), Role::Other);
        assert_eq!(c("sort", &["--compress-prog=sh", "x"]), Role::Other);
        assert_eq!(c("sed", &["-n", "1,20p", "f"]), Role::Reader);
        assert_eq!(c("sed", &["s/a/b/g", "f"]), Role::Reader);
        assert_eq!(c("sed", &["-i", "s/a/b/", "f"]), Role::Other);
        assert_eq!(c("sed", &["--in-pl", "s/a/b/", "f"]), Role::Other);
        assert_eq!(c("sed", &["-n", "--expr=1e id", "f"]), Role::Other);
        assert_eq!(c("sed", &["-ne1e", "f"]), Role::Other);
        assert_eq!(c("sed", &["--fil=x", "f"]), Role::Other);
        assert_eq!(c("sed", &["s/a/b/w out", "f"]), Role::Other);
        assert_eq!(c("sed", &["1e rm -rf /", "f"]), Role::Other);
        // A `;` or newline inside a regex is text: these are `e`, `r`, `w` commands.
        for hidden in [
            "/;/!e //usr//bin//id",
            "$!d;/;/!e id",
            "/;/!r .env",
            "/;/!w .git/hooks/pre-commit",
            "/\\\n/w x",
            "s/;/x/w out",
            "s/a/b;/e",
            "\\;x;p",
        ] {
            assert_eq!(c("sed", &["-n", hidden, "f"]), Role::Other, "{hidden}");
        }
        for fine in [
            "1,20p",
            "/fn main/,/^}/p",
            "s/a;b/c;d/g",
            "/x/{p;q}",
            "$!N;P;D",
            "10q",
            "y/abc/xyz/",
            "0~2p",
            "5,+3d",
        ] {
            assert_eq!(c("sed", &["-n", fine, "f"]), Role::Reader, "{fine}");
        }
        assert_eq!(c("git", &["status"]), Role::Reader);
        assert_eq!(c("git", &["-c", "x=y", "status"]), Role::Other);
        assert_eq!(c("git", &["branch", "-D", "x"]), Role::Other);
        assert_eq!(c("git", &["push"]), Role::Other);
        assert_eq!(
            c("git", &["ls-remote", "--upload-pack=x", "o"]),
            Role::Other
        );
        assert_eq!(
            c("git", &["grep", "--open-files-in-pager=x", "y"]),
            Role::Other
        );
        assert_eq!(c("git", &["grep", "-Ox", "y"]), Role::Other);
        assert_eq!(c("git", &["diff", "--ext-diff"]), Role::Other);
        assert_eq!(c("git", &["diff", "--ext"]), Role::Other);
        assert_eq!(
            c("git", &["blame", "--contents=/etc/passwd", "x"]),
            Role::Other
        );
        assert_eq!(c("git", &["log", "--oneline", "-5"]), Role::Reader);
        assert_eq!(c("git", &["remote", "-v"]), Role::Reader);
        assert_eq!(c("git", &["stash", "list"]), Role::Reader);
        assert_eq!(c("git", &["stash", "drop"]), Role::Other);
        assert_eq!(c("find", &[".", "-delete"]), Role::Other);
        assert_eq!(c("find", &[".", "-name", "*.rs"]), Role::Reader);
        assert_eq!(c("find", &[".", "-fprint", "x"]), Role::Other);
        assert_eq!(c("cargo", &["--version"]), Role::Other);
        assert_eq!(c("xxd", &["-ps", "x"]), Role::Other);
        assert_eq!(c("xxd", &["-c16", "x"]), Role::Reader);
        assert_eq!(c("od", &["-c", "-w", "x"]), Role::Reader);
        assert_eq!(c("column", &["-N", "a", "-J", "x"]), Role::Reader);
        assert_eq!(c("rm", &["x"]), Role::Other);
        assert_eq!(c("rg", &["--pre", "sh", "x"]), Role::Other);
        assert_eq!(c("rg", &["--pr=sh", "x"]), Role::Other);
        assert_eq!(c("printf", &["-v", "x", "y"]), Role::Other);
        assert_eq!(c("test", &["-v", "x"]), Role::Other);
        assert_eq!(c("ps", &["e"]), Role::Other);
    }
}

//! Which programs are clearly read-only, and with which arguments.
//!
//! Only programs listed here can be auto-allowed; anything else falls through to the other
//! rules (and by default to ask). A listed program is read-only only with arguments that keep
//! it so (`sort -o`, `sed -i`, `find -delete`, `git branch -D` are not).

/// Programs that touch no files at all (beyond redirections, judged separately).
const PURE: &[&str] = &[
    "echo", "printf", "true", "false", ":", "pwd", "whoami", "id", "uname", "which", "type",
    "basename", "dirname", "seq", "sleep", "test", "[", "expr", "nproc", "arch", "tty", "locale",
    "groups", "cd", "pushd", "popd", "dirs", "cal", "factor", "uptime", "free", "ps", "jobs",
    "wait", "export", "unset", "set", "shopt", "local", "declare", "typeset", "readonly", "shift",
    "return", "exit", "break", "continue", "umask",
];

/// Programs that only read the files named in their arguments.
const READERS: &[&str] = &[
    "cat",
    "head",
    "tail",
    "wc",
    "ls",
    "tree",
    "stat",
    "file",
    "du",
    "df",
    "diff",
    "cmp",
    "comm",
    "cut",
    "nl",
    "od",
    "hexdump",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "realpath",
    "readlink",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "strings",
    "column",
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
    "tr",
    "jq",
    "xxd",
    "base64",
    "find",
    "sed",
    "git",
    "date",
    "hostname",
];

/// Readers whose first positional argument is a pattern or filter, not a file.
pub(crate) const PATTERN_FIRST: &[&str] = &["grep", "egrep", "fgrep", "rg", "jq", "sed"];

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

/// Classifies `program` (a base name) with its arguments (`None` for run-time values).
pub(crate) fn classify(program: &str, args: &[Option<&str>]) -> Role {
    if program == "command" {
        let query = args
            .first()
            .copied()
            .flatten()
            .is_some_and(|a| a == "-v" || a == "-V");
        return if query { Role::Pure } else { Role::Other };
    }
    if args.len() == 1 && !program.contains('/') {
        if let Some(Some(a)) = args.first() {
            if *a == "--version" {
                return Role::Pure;
            }
        }
    }
    if PURE.contains(&program) {
        return Role::Pure;
    }
    if !READERS.contains(&program) {
        return Role::Other;
    }
    let ok = match program {
        "date" => !args
            .iter()
            .any(|a| a.is_none_or(|a| a == "-s" || a.starts_with("--set"))),
        "hostname" => args.iter().all(|a| a.is_some_and(|a| a.starts_with('-'))),
        "sort" => !has_flag(args, &["-o", "--output", "--compress-program"], "o"),
        "file" => !has_flag(args, &["-C", "--compile"], ""),
        "uniq" => positional(args).len() <= 1,
        "xxd" => positional(args).len() <= 1 && !has_flag(args, &["-r", "-revert"], ""),
        "tree" => !has_flag(args, &["-o"], ""),
        "rg" => !args
            .iter()
            .any(|a| a.is_some_and(|a| a.starts_with("--pre") || a == "--search-zip" || a == "-z")),
        "find" => find_read_only(args),
        "sed" => sed_read_only(args),
        "git" => git_read_only(args),
        _ => true,
    };
    if ok {
        Role::Reader
    } else {
        Role::Other
    }
}

fn positional<'a>(args: &[Option<&'a str>]) -> Vec<Option<&'a str>> {
    args.iter()
        .copied()
        .filter(|a| a.is_none_or(|a| !a.starts_with('-') || a == "-"))
        .collect()
}

/// Whether any of `long` flags (exact or `--x=`), or a short cluster containing one of `short`,
/// is present.
fn has_flag(args: &[Option<&str>], long: &[&str], short: &str) -> bool {
    args.iter().flatten().any(|a| {
        long.iter()
            .any(|f| *a == *f || (f.starts_with("--") && a.starts_with(&format!("{f}="))))
            || (a.starts_with('-')
                && !a.starts_with("--")
                && a.len() > 1
                && a[1..].chars().any(|c| short.contains(c)))
    })
}

fn find_read_only(args: &[Option<&str>]) -> bool {
    const WRITERS: &[&str] = &["-delete", "-fprint", "-fprint0", "-fprintf", "-fls"];
    args.iter()
        .all(|a| a.is_some_and(|a| !WRITERS.contains(&a)))
}

fn sed_read_only(args: &[Option<&str>]) -> bool {
    let mut scripts = Vec::new();
    let mut explicit = false;
    let mut i = 0;
    while i < args.len() {
        let Some(a) = args[i] else {
            return false;
        };
        if a == "-i" || a.starts_with("--in-place") || (a.starts_with("-i") && !a.starts_with("--"))
        {
            return false;
        }
        if a == "-f" || a.starts_with("--file") || a == "-s" || a == "--separate" {
            return false;
        }
        if a == "-e" || a == "--expression" {
            explicit = true;
            match args.get(i + 1).copied().flatten() {
                Some(s) => scripts.push(s),
                None => return false,
            }
            i += 2;
            continue;
        }
        if let Some(s) = a.strip_prefix("--expression=") {
            explicit = true;
            scripts.push(s);
        } else if a.starts_with('-') && a.len() > 1 {
            // -n, -E, -r, -z, -u and their clusters; anything with i/f/e/s was handled above.
            if a[1..].chars().any(|c| !"nErzu".contains(c)) && !a.starts_with("--") {
                return false;
            }
        } else if !explicit && scripts.is_empty() {
            scripts.push(a);
        }
        i += 1;
    }
    !scripts.is_empty() && scripts.iter().all(|s| sed_script_safe(s))
}

/// Whether a sed script only prints / deletes / substitutes (no `w`, `r`, `e` commands or
/// flags).
fn sed_script_safe(script: &str) -> bool {
    for cmd in script.split([';', '\n']) {
        let mut chars = cmd.trim().chars().peekable();
        // Address: line numbers, `$`, ranges, steps, `/regex/`, negation.
        loop {
            match chars.peek() {
                Some(c) if c.is_ascii_digit() || "$,~! \t+".contains(*c) => {
                    chars.next();
                }
                Some('/') => {
                    chars.next();
                    let mut escaped = false;
                    for c in chars.by_ref() {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '/' {
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
        let rest: String = chars.collect();
        let rest = rest.trim();
        match rest.chars().next() {
            None => {}
            Some(
                'p' | 'd' | 'q' | '=' | 'n' | 'N' | 'P' | 'D' | 'l' | '{' | '}' | 'h' | 'H' | 'g'
                | 'G' | 'x',
            ) => {
                if rest.chars().count() > 1 && !rest[1..].trim().chars().all(|c| c.is_ascii_digit())
                {
                    return false;
                }
            }
            Some('s') | Some('y') => {
                let mut it = rest.chars().skip(1);
                let Some(delim) = it.next() else {
                    return false;
                };
                if delim == '\\' || delim == '\n' {
                    return false;
                }
                let mut seen = 0;
                let mut escaped = false;
                let mut flags = String::new();
                for c in it {
                    if seen == 2 {
                        flags.push(c);
                    } else if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == delim {
                        seen += 1;
                    }
                }
                if seen < 2 || !flags.trim().chars().all(|c| "gpiIm0123456789".contains(c)) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// `git` with only read-only subcommands and options.
fn git_read_only(args: &[Option<&str>]) -> bool {
    let mut i = 0;
    // Global options.
    while let Some(Some(a)) = args.get(i) {
        match *a {
            "-C" => i += 2,
            "--no-pager"
            | "-P"
            | "--no-optional-locks"
            | "--literal-pathspecs"
            | "--no-replace-objects" => i += 1,
            a if a.starts_with('-') => return false,
            _ => break,
        }
    }
    let Some(Some(sub)) = args.get(i) else {
        return false;
    };
    let rest: Vec<Option<&str>> = args[i + 1..].to_vec();
    if rest.iter().any(|a| {
        a.is_some_and(|a| {
            a.starts_with("--output")
                || a == "--no-index"
                || a.starts_with("--ext-diff")
                || a == "-o"
        })
    }) {
        return false;
    }
    let flags_only = |allowed: &[&str]| {
        rest.iter().all(|a| {
            a.is_some_and(|a| {
                allowed
                    .iter()
                    .any(|f| a == *f || a.starts_with(&format!("{f}=")))
            })
        })
    };
    match *sub {
        "status" | "diff" | "log" | "show" | "blame" | "shortlog" | "describe" | "rev-parse"
        | "rev-list" | "ls-files" | "ls-tree" | "cat-file" | "grep" | "merge-base" | "name-rev"
        | "whatchanged" | "count-objects" | "for-each-ref" | "show-ref" | "check-ignore"
        | "version" | "show-branch" | "annotate" | "diff-tree" | "diff-files" | "diff-index"
        | "ls-remote" | "var" | "check-attr" | "cherry" => true,
        "branch" => flags_only(&[
            "-a",
            "--all",
            "-r",
            "--remotes",
            "-l",
            "--list",
            "-v",
            "-vv",
            "--verbose",
            "--show-current",
            "--color",
            "--no-color",
            "--contains",
            "--merged",
            "--no-merged",
            "--sort",
            "--format",
            "--column",
            "--no-column",
        ]),
        "tag" => {
            rest.is_empty()
                || flags_only(&[
                    "-l",
                    "--list",
                    "-n",
                    "--sort",
                    "--contains",
                    "--points-at",
                    "--format",
                ])
        }
        "remote" => {
            rest.is_empty()
                || flags_only(&["-v", "--verbose"])
                || matches!(rest.first().copied().flatten(), Some("get-url" | "show"))
        }
        "stash" => matches!(rest.first().copied().flatten(), Some("list" | "show")),
        "reflog" => rest.is_empty() || matches!(rest.first().copied().flatten(), Some("show")),
        "config" => {
            rest.iter()
                .flatten()
                .any(|a| matches!(*a, "--get" | "--get-all" | "--get-regexp" | "--list" | "-l"))
                && !rest.iter().flatten().any(|a| {
                    matches!(
                        *a,
                        "--add"
                            | "--unset"
                            | "--unset-all"
                            | "--replace-all"
                            | "--edit"
                            | "-e"
                            | "--rename-section"
                            | "--remove-section"
                    )
                })
        }
        "worktree" => matches!(rest.first().copied().flatten(), Some("list")),
        "submodule" => matches!(rest.first().copied().flatten(), Some("status")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(program: &str, args: &[&str]) -> Role {
        let args: Vec<Option<&str>> = args.iter().map(|a| Some(*a)).collect();
        classify(program, &args)
    }

    #[test]
    fn classifies() {
        assert_eq!(c("ls", &["-la"]), Role::Reader);
        assert_eq!(c("echo", &["hi"]), Role::Pure);
        assert_eq!(c("sort", &["-o", "x"]), Role::Other);
        assert_eq!(c("sed", &["-n", "1,20p", "f"]), Role::Reader);
        assert_eq!(c("sed", &["s/a/b/g", "f"]), Role::Reader);
        assert_eq!(c("sed", &["-i", "s/a/b/", "f"]), Role::Other);
        assert_eq!(c("sed", &["s/a/b/w out", "f"]), Role::Other);
        assert_eq!(c("sed", &["1e rm -rf /", "f"]), Role::Other);
        assert_eq!(c("git", &["status"]), Role::Reader);
        assert_eq!(c("git", &["-c", "x=y", "status"]), Role::Other);
        assert_eq!(c("git", &["branch", "-D", "x"]), Role::Other);
        assert_eq!(c("git", &["push"]), Role::Other);
        assert_eq!(c("find", &[".", "-delete"]), Role::Other);
        assert_eq!(c("cargo", &["--version"]), Role::Pure);
        assert_eq!(c("rm", &["x"]), Role::Other);
    }
}

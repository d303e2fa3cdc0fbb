//! What git would run if started in a directory.
//!
//! The read-only git commands the policy allows (`git status`, `git diff`, `git log`, ...) run
//! no code of their own, but git runs programs its *configuration* names: `core.fsmonitor`
//! (run by every command that looks at the work tree, `ls-files` included), filter and diff
//! drivers, the `post-index-change` hook (an index refresh writes the index), gpg for
//! `log.showSignature` or a configured format or sort that shows signatures, itself inside
//! submodules (under their own configuration), and the fetch machinery when a partial clone
//! reads a missing object; `git blame` prints the first line of `blame.ignoreRevsFile` that it
//! cannot parse. The configuration is the
//! repository's (`.git/config`, which a tarball or another user can plant; git also walks up to
//! a parent directory's repository), the user's and the system's.
//!
//! [`check`] asks git itself which repository it finds in a directory and what configuration
//! it reads there (`git rev-parse`, `git config --list --show-scope`: neither runs a configured
//! program), and refuses when any of it names a program one of those commands could start. It
//! is the policy's [`GitProbe`](crate::policy::GitProbe) in the server.
//!
//! Keys are judged against git-config(1) of git 2.47: a key git does not know is inert to git.
//! Keys that name programs only the network commands run (`core.sshCommand`,
//! `credential.helper`, `remote.*.uploadpack`, ...) are harmless here because the allowed
//! commands never reach the network (a partial clone would, and is refused); pagers and editors
//! are never started without a terminal, and the Bash tool has none.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why git started in a directory could run a program (or read outside the project).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// git found no repository there, or could not read its configuration.
    #[error("git cannot tell what it would read there: {0}")]
    Unknown(String),
    /// A configuration key names a program (or moves git's reads).
    #[error("`{key}` in the {scope} git configuration {why}")]
    Key {
        /// `local`, `global`, `system`, `worktree`.
        scope: String,
        /// The key as git lists it.
        key: String,
        /// What it does.
        why: &'static str,
    },
    /// A hook an index refresh runs.
    #[error("the repository has a `post-index-change` hook ({0}): an index refresh runs it")]
    Hook(PathBuf),
    /// A symbolic or hard link among git's own files: git reads it and quotes its lines in
    /// errors and status (`packed-refs`, `shallow`, `info/grafts`, a worktree's `locked`).
    #[error("git's own files include a link ({0}): git would read and quote what it leads to")]
    Linked(PathBuf),
    /// git would read or write a repository elsewhere than the directory's own.
    #[error("git would use a repository outside the project ({0})")]
    Outside(PathBuf),
    /// The index holds submodules.
    #[error(
        "the repository has submodules: git runs itself inside them, under their own configuration"
    )]
    Submodules,
}

/// Whether git commands started in `dir` (with `home` as `HOME`) can run no program their
/// configuration names. Runs git three or four times; no configured program.
pub fn check(dir: &Path, home: Option<&Path>) -> Result<(), Refusal> {
    let found = git(
        dir,
        home,
        &[
            "rev-parse",
            "--absolute-git-dir",
            "--git-common-dir",
            "--git-path",
            "hooks",
        ],
    )?;
    let mut lines = found.lines();
    let (Some(git_dir), Some(common_dir), Some(hooks)) = (lines.next(), lines.next(), lines.next())
    else {
        return Err(Refusal::Unknown(format!(
            "unexpected `git rev-parse` output {found:?}"
        )));
    };
    let common_dir = dir.join(common_dir);
    for d in [Path::new(git_dir), common_dir.as_path()] {
        if let Some(link) = linked_file_in(d)? {
            return Err(Refusal::Linked(link));
        }
        // Alternates name more object dirs, whose own `info/alternates` git reads and quotes
        // too (a link one level down leaked keys): none are looked into, so none are allowed.
        let alternates = d.join("objects").join("info").join("alternates");
        if alternates.exists() {
            return Err(Refusal::Outside(alternates));
        }
    }
    // git refreshes (writes) the index of the repository it uses: its own `.git`, or a linked
    // worktree's dir in the repository that owns it; a `.git` file naming any other place
    // makes git read and write there.
    if !within_project(dir, Path::new(git_dir), &common_dir) {
        return Err(Refusal::Outside(PathBuf::from(git_dir)));
    }
    let listed = git(dir, home, &["config", "--list", "--show-scope", "-z"])?;
    for (scope, key, value) in entries(&listed) {
        if let Some(why) = judge(&key, value).or_else(|| judge_repository_key(scope, &key)) {
            return Err(Refusal::Key {
                scope: scope.to_string(),
                key,
                why,
            });
        }
    }
    let revs = dir.join(BLAME_IGNORE_REVS);
    if std::fs::symlink_metadata(&revs).is_ok_and(|m| !m.is_file()) {
        return Err(Refusal::Key {
            scope: "repository".into(),
            key: format!("blame.ignoreRevsFile ({BLAME_IGNORE_REVS} is not a plain file)"),
            why: "would have `git blame` print the first line of what it leads to",
        });
    }
    let hook = dir.join(hooks).join("post-index-change");
    if hook.exists() {
        return Err(Refusal::Hook(hook));
    }
    if Path::new(git_dir).join("modules").exists() || has_gitlinks(dir, home)? {
        return Err(Refusal::Submodules);
    }
    Ok(())
}

/// Whether git uses `dir`'s own repository (its `.git` inside it), a linked worktree's git dir
/// (`<common>/worktrees/<name>`, made by `git worktree add`), or the repository `dir` is part
/// of (no `.git` in `dir`: git walked up); not a `.git` file or link naming another place.
fn within_project(dir: &Path, git_dir: &Path, common_dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let (Some(dir), Some(git_dir), Some(common)) = (canon(dir), canon(git_dir), canon(common_dir))
    else {
        return false;
    };
    if git_dir.starts_with(&dir) && common.starts_with(&dir) {
        return true;
    }
    // No `.git` here: git walked up to the repository the directory is part of (a monorepo's
    // subdirectory; its configuration was judged above).
    if std::fs::symlink_metadata(dir.join(".git")).is_err() {
        return true;
    }
    // A linked worktree: its git dir is `<common>/worktrees/<name>` and that dir's `gitdir`
    // file names this worktree's `.git`.
    git_dir.parent() == Some(&common.join("worktrees"))
        && std::fs::read_to_string(git_dir.join("gitdir"))
            .ok()
            .and_then(|g| canon(Path::new(g.trim())))
            == Some(dir.join(".git"))
}

/// The most entries of a git dir looked at (object files excepted) before giving up.
const MAX_GIT_DIR_ENTRIES: usize = 200_000;

/// The first symbolic link, or file with more than one hard link, among git's own files in
/// `git_dir` (object files and packs excepted: git never quotes them), if any.
fn linked_file_in(git_dir: &Path) -> Result<Option<PathBuf>, Refusal> {
    use std::os::unix::fs::MetadataExt;
    let mut pending = vec![git_dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Refusal::Unknown(format!("cannot list {}: {e}", d.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Refusal::Unknown(format!("cannot list {}: {e}", d.display())))?;
            seen += 1;
            if seen > MAX_GIT_DIR_ENTRIES {
                return Err(Refusal::Unknown(format!(
                    "{} has more than {MAX_GIT_DIR_ENTRIES} files to look at",
                    git_dir.display()
                )));
            }
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| Refusal::Unknown(format!("{}: {e}", path.display())))?;
            if meta.file_type().is_symlink() || (meta.is_file() && meta.nlink() > 1) {
                return Ok(Some(path));
            }
            if meta.is_dir() && !is_object_store(git_dir, &path) {
                pending.push(path);
            }
        }
    }
    Ok(None)
}

/// `objects/<2 hex>`, `objects/pack` (not `objects/info`, whose `alternates` git quotes) and
/// git-lfs's `lfs/objects`.
fn is_object_store(git_dir: &Path, path: &Path) -> bool {
    path == git_dir.join("lfs").join("objects")
        || path.parent() == Some(&git_dir.join("objects"))
            && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == "pack" || (n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            })
}

/// `git ARGS` in `dir`: stdout, or why it failed.
fn git(dir: &Path, home: Option<&Path>, args: &[&str]) -> Result<String, Refusal> {
    let out = command(dir, home)
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Refusal::Unknown(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Refusal::Unknown(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| Refusal::Unknown(e.to_string()))
}

/// git in `dir` as the agent's git would start there, minus what the server's own
/// environment would add: no `GIT_DIR`, `GIT_WORK_TREE`, `GIT_CONFIG_PARAMETERS`, ... (the
/// config file locations the user chose are kept), no optional locks (the probe writes
/// nothing), and `core.fsmonitor` off for the probe's own commands.
fn command(dir: &Path, home: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C");
    for (name, _) in std::env::vars_os() {
        let kept = [
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_SYSTEM",
            "GIT_CONFIG_NOSYSTEM",
        ];
        if name.to_string_lossy().starts_with("GIT_") && !kept.iter().any(|k| name == OsStr::new(k))
        {
            cmd.env_remove(name);
        }
    }
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    cmd
}

/// Whether the index holds a gitlink (mode 160000: a submodule), streamed.
fn has_gitlinks(dir: &Path, home: Option<&Path>) -> Result<bool, Refusal> {
    let mut child = command(dir, home)
        .args(["-c", "core.fsmonitor=false", "ls-files", "--stage", "-z"])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Refusal::Unknown(format!("cannot run git: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(Refusal::Unknown("no output from git ls-files".into()));
    };
    let mut found = false;
    let mut entry = Vec::new();
    let mut reader = BufReader::new(stdout);
    loop {
        entry.clear();
        match reader.read_until(0, &mut entry) {
            Ok(0) => break,
            Ok(_) if entry.starts_with(b"160000 ") => {
                found = true;
                break;
            }
            Ok(_) => {}
            Err(e) => return Err(Refusal::Unknown(format!("git ls-files: {e}"))),
        }
    }
    drop(reader);
    let status = child
        .wait()
        .map_err(|e| Refusal::Unknown(format!("git ls-files: {e}")))?;
    if !found && !status.success() {
        return Err(Refusal::Unknown(format!("git ls-files failed: {status}")));
    }
    Ok(found)
}

/// `scope NUL key LF value NUL` (or `scope NUL key NUL` for a key without a value), as
/// `git config --list --show-scope -z` prints them.
fn entries(listed: &str) -> impl Iterator<Item = (&str, String, Option<&str>)> {
    let mut fields = listed.split('\0');
    std::iter::from_fn(move || {
        let scope = fields.next().filter(|s| !s.is_empty())?;
        let item = fields.next()?;
        let (key, value) = match item.split_once('\n') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        Some((scope, key.to_string(), value))
    })
}

/// What `key` (section and variable lowercase, the subsection as written) set to `value`
/// does that the read-only commands must not, if anything.
fn judge(key: &str, value: Option<&str>) -> Option<&'static str> {
    let (section, rest) = key.split_once('.')?;
    let (sub, var) = match rest.rsplit_once('.') {
        Some((sub, var)) => (Some(sub), var),
        None => (None, rest),
    };
    let truthy = || is_true(value);
    match (section, sub.is_some(), var) {
        ("core", false, "fsmonitor") if !is_bool(value) => {
            Some("names a program that every look at the work tree runs")
        }
        ("core", false, "worktree") => Some("moves the work tree git reads"),
        ("diff", false, "external") => Some("names an external diff program"),
        ("diff", true, "command" | "textconv") => Some("names a diff driver program"),
        ("filter", true, "clean" | "smudge" | "process") if !is_git_lfs(var, value) => {
            Some("names a filter program that reading changed files runs")
        }
        ("log", false, "showsignature") if truthy() => Some("runs gpg on every signed commit"),
        ("extensions", false, "partialclone") => {
            Some("makes reading a missing object fetch it over the network")
        }
        ("remote", true, "promisor") if truthy() => {
            Some("makes reading a missing object fetch it over the network")
        }
        ("trace2", _, _) => Some("writes traces to a file or socket it names"),
        // git-lfs (run as the standard `filter.lfs` program) reads its own keys: extensions
        // and custom transfers are programs, `lfs.storage` a place it writes.
        ("lfs", true, _)
            if sub.is_some_and(|s| {
                s.starts_with("extension.") || s.starts_with("customtransfer.")
            }) =>
        {
            Some("names a program git-lfs runs")
        }
        ("lfs", false, "storage" | "standalonetransferagent") => {
            Some("names where git-lfs writes or what it runs")
        }
        // An include read from a descriptor (`/dev/stdin`, `/dev/fd/5`) is whatever the
        // command is fed, which this look cannot see.
        ("include", false, "path") | ("includeif", true, "path")
            if value.is_some_and(|v| v.starts_with("/dev/") || v.starts_with("/proc/")) =>
        {
            Some("includes configuration from a descriptor")
        }
        ("submodule", _, _) => Some("makes git run itself inside submodules"),
        // `git blame` prints the first line it cannot parse: any file's first line (a token
        // through a symlink, `.env`). Only GitHub's convention, which `check` makes sure is a
        // plain file.
        ("blame", false, "ignorerevsfile") if value != Some(BLAME_IGNORE_REVS) => {
            Some("names a file whose first line `git blame` prints")
        }
        // A format or sort key that shows signatures runs `gpg.program`.
        ("pretty", false, _) | ("format", false, "pretty") if shows_signature(value) => {
            Some("names a format that checks signatures (gpg.program)")
        }
        ("branch" | "tag", false, "sort") if shows_signature(value) => {
            Some("sorts by signature, which runs gpg.program")
        }
        _ => None,
    }
}

/// The one `blame.ignoreRevsFile` value allowed (when it is a plain file).
const BLAME_IGNORE_REVS: &str = ".git-blame-ignore-revs";

/// Keys that are the user's to set but not a repository's: a repository's configuration
/// (`.git/config` can come from a tarball or another user) must not name the program that
/// checks signatures, nor files git reads and quotes (attributes, mailmap, order file).
fn judge_repository_key(scope: &str, key: &str) -> Option<&'static str> {
    if !matches!(scope, "local" | "worktree" | "command") {
        return None;
    }
    let (section, rest) = key.split_once('.')?;
    let var = rest.rsplit_once('.').map_or(rest, |(_, v)| v);
    match (section, var) {
        ("gpg", "program") => Some("names the program that checks signatures"),
        ("core", "attributesfile" | "excludesfile")
        | ("mailmap", "file" | "blob")
        | ("diff", "orderfile") => {
            Some("names a file git reads, in the repository's own configuration")
        }
        _ => None,
    }
}

/// A format or sort value that makes git check signatures (`%G?`, `%+GS`, `%(signature)`).
fn shows_signature(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        ["%G", "%+G", "%-G", "% G"].iter().any(|g| v.contains(g))
            || v.to_ascii_lowercase().contains("signature")
    })
}

/// The values `git lfs install` writes (`filter.lfs.*`): the installed git-lfs itself.
fn is_git_lfs(var: &str, value: Option<&str>) -> bool {
    matches!(
        (var, value),
        ("clean", Some("git-lfs clean -- %f"))
            | ("smudge", Some("git-lfs smudge -- %f"))
            | ("process", Some("git-lfs filter-process"))
    )
}

/// git's boolean spellings; a key without a value is `true`.
fn is_bool(value: Option<&str>) -> bool {
    value.is_none_or(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0"
        )
    })
}

fn is_true(value: Option<&str>) -> bool {
    value.is_none_or(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_run_programs_are_refused() {
        for (key, value) in [
            ("core.fsmonitor", Some("touch /tmp/pwn")),
            ("core.fsmonitor", Some(".git/hooks/query-watchman")),
            ("core.worktree", Some("/")),
            ("diff.external", Some("x")),
            ("diff.secret.textconv", Some("cat /etc/shadow")),
            ("diff.Tool.Name.command", Some("x")),
            ("filter.lfs.process", Some("sh -c 'touch /tmp/pwn'")),
            ("filter.crypt.clean", Some("git-crypt clean")),
            ("log.showsignature", None),
            ("log.showsignature", Some("yes")),
            ("extensions.partialclone", Some("origin")),
            ("remote.origin.promisor", Some("true")),
            ("trace2.eventtarget", Some("/home/u/.bashrc")),
            ("submodule.lib.url", Some("x")),
            ("blame.ignorerevsfile", Some("/home/u/.aws/credentials")),
            ("blame.ignorerevsfile", Some("../../.ssh/id_rsa")),
            ("blame.ignorerevsfile", Some(".env")),
            ("format.pretty", Some("format:%h %G?")),
            ("pretty.short2", Some("format:%h %+GS")),
            ("pretty.x", Some("% GK")),
            ("branch.sort", Some("signature")),
            ("tag.sort", Some("-signature:grade")),
        ] {
            assert!(judge(key, value).is_some(), "{key}={value:?}");
        }
    }

    #[test]
    fn the_repository_may_not_name_gpg_or_files_git_quotes() {
        for key in [
            "gpg.program",
            "gpg.ssh.program",
            "gpg.x509.program",
            "core.attributesfile",
            "mailmap.file",
            "diff.orderfile",
        ] {
            assert!(judge_repository_key("local", key).is_some(), "{key}");
            assert!(judge_repository_key("worktree", key).is_some(), "{key}");
            assert_eq!(judge_repository_key("global", key), None, "{key}");
        }
        assert_eq!(judge_repository_key("local", "user.name"), None);
    }

    #[test]
    fn everyday_configuration_is_inert() {
        for (key, value) in [
            ("core.fsmonitor", Some("true")),
            ("core.fsmonitor", Some("false")),
            ("core.pager", Some("delta")),
            ("core.editor", Some("vim")),
            ("core.hookspath", Some(".husky")),
            ("core.sshcommand", Some("ssh -i ~/.ssh/work")),
            ("credential.helper", Some("store")),
            ("filter.lfs.clean", Some("git-lfs clean -- %f")),
            ("filter.lfs.smudge", Some("git-lfs smudge -- %f")),
            ("filter.lfs.process", Some("git-lfs filter-process")),
            ("filter.lfs.required", Some("true")),
            ("log.showsignature", Some("false")),
            ("alias.st", Some("!touch /tmp/x")),
            ("user.name", Some("A")),
            ("remote.origin.url", Some("git@example.invalid:a/b")),
            ("blame.ignorerevsfile", Some(".git-blame-ignore-revs")),
            ("delta.navigate", Some("true")),
            ("gpg.program", Some("gpg2")),
            ("format.pretty", Some("oneline")),
            ("branch.sort", Some("-committerdate")),
        ] {
            assert_eq!(judge(key, value), None, "{key}={value:?}");
        }
    }

    #[test]
    fn listing_is_split_into_scope_key_and_value() {
        let listed = "global\0user.name\nA B\0local\0core.bare\nfalse\0command\0foo.bar\0";
        let got: Vec<_> = entries(listed).collect();
        assert_eq!(
            got,
            vec![
                ("global", "user.name".to_string(), Some("A B")),
                ("local", "core.bare".to_string(), Some("false")),
                ("command", "foo.bar".to_string(), None),
            ]
        );
    }
}

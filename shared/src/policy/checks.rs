//! The tests behind built-in rules (things a glob cannot say: "outside the project",
//! "download piped into a shell", "read-only").

use std::cell::OnceCell;
use std::sync::OnceLock;

use super::commands::EffectKind;
use super::fresh_temp::is_fresh_reference;
use super::glob::Glob;
use super::paths::{self, is_within, Resolved};
use super::readonly::Role;
use super::rules::{expand_pattern, path_matches};
use super::subject::{FileAccess, Subject, READ_TOOLS};
use super::EvalContext;

/// Programs that fetch data from the network.
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "http",
    "https",
    "xh",
    "aria2c",
    "lwp-request",
    "GET",
    "nc",
    "ncat",
    "socat",
];
/// A work root: lexical form and real form (the same when no resolver answers).
pub(crate) struct Root {
    lexical: String,
    real: String,
}

/// Per-evaluation cache of what the built-in tests derive from the context (compiled globs,
/// work roots and their real forms), so that a call with many commands compiles and resolves
/// them once.
pub(crate) struct Env<'a> {
    /// The context.
    pub(crate) ctx: &'a EvalContext,
    roots: OnceCell<Option<Vec<Root>>>,
    protected: [OnceCell<Vec<(Glob, bool)>>; 6],
    secrets: OnceCell<(Vec<Glob>, Vec<Glob>)>,
    home_keys: OnceCell<Option<Glob>>,
    git_runs_nothing: OnceCell<bool>,
}

impl<'a> Env<'a> {
    /// An empty cache over `ctx`.
    pub(crate) fn new(ctx: &'a EvalContext) -> Env<'a> {
        Env {
            ctx,
            roots: OnceCell::new(),
            protected: Default::default(),
            secrets: OnceCell::new(),
            home_keys: OnceCell::new(),
            git_runs_nothing: OnceCell::new(),
        }
    }

    fn roots(&self) -> Option<&[Root]> {
        self.roots
            .get_or_init(|| {
                paths::work_roots(self.ctx).map(|roots| {
                    roots
                        .into_iter()
                        .map(|lexical| Root {
                            real: paths::real_dir(&lexical, self.ctx),
                            lexical,
                        })
                        .collect()
                })
            })
            .as_deref()
    }

    fn protected(&self, group: Protected) -> &[(Glob, bool)] {
        let slot = match group {
            Protected::EnvFiles => 0,
            Protected::Ssh => 1,
            Protected::GitInternals => 2,
            Protected::ClaudeSettings => 3,
            Protected::MaestroData => 4,
            Protected::ShellStartup => 5,
        };
        self.protected[slot].get_or_init(|| protected_globs(group, self.ctx))
    }

    fn secrets(&self) -> &(Vec<Glob>, Vec<Glob>) {
        self.secrets.get_or_init(|| secret_globs(self.ctx))
    }

    fn secret_names(&self) -> &[(Glob, bool)] {
        // Context-free (`**/` patterns): compiled once per process.
        static COMPILED: OnceLock<Vec<(Glob, bool)>> = OnceLock::new();
        COMPILED.get_or_init(|| {
            SECRET_NAMES
                .iter()
                .map(|p| {
                    let glob = if p.contains('/') {
                        (*p).to_string()
                    } else {
                        format!("**/{p}")
                    };
                    (Glob::new(&glob, true), p.starts_with('*'))
                })
                .collect()
        })
    }

    /// Whether git started in the session's directory runs no program its configuration
    /// names (asked once per evaluation; no probe: no).
    fn git_runs_nothing(&self) -> bool {
        *self.git_runs_nothing.get_or_init(|| {
            let (Some(probe), Some(cwd)) = (&self.ctx.git, self.ctx.cwd.as_deref()) else {
                return false;
            };
            probe
                .check(
                    std::path::Path::new(cwd),
                    self.ctx.home.as_deref().map(std::path::Path::new),
                )
                .is_ok()
        })
    }

    fn home_keys(&self) -> Option<&Glob> {
        self.home_keys
            .get_or_init(|| expand_pattern("~/.ssh/id_*", self.ctx).map(|p| Glob::new(&p, true)))
            .as_ref()
    }
}

/// Files that hold secrets: reading them is never auto-allowed (it is asked).
const SECRET_NAMES: &[&str] = &[
    // `.env`, `.env.local`, `.env-prod`, `.env_local`, `.env~`, `.envrc`, and files in an
    // `.env*/` directory (templates such as `.env.example` are exempt).
    ".env*",
    "**/.env*/**",
    // Remote URLs with tokens, credential helpers' stores (any spelling: `gl/config` when
    // `gl -> .git`).
    "**/.git/config",
    ".git-credentials",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "credentials",
    "credentials.json",
    "**/.ssh/**",
    "**/.aws/**",
    "**/.gnupg/**",
    "**/.config/gcloud/**",
    "**/.azure/**",
    "**/.kube/config",
    "**/.docker/config.json",
    "**/.config/gh/hosts.yml",
    ".git-credentials",
    "**/.claude/.credentials.json",
    "*.token",
    "id_dsa*",
    // Found by the red team of stop 26: database and web passwords, service keys, tokens and
    // secret stores by their usual names, and state files that hold secrets.
    ".pgpass",
    ".my.cnf",
    ".htpasswd",
    ".vault-token",
    ".boto",
    ".s3cfg",
    "service-account*.json",
    "client_secret*.json",
    "credentials.tfrc.json",
    "*.tfstate",
    "*.tfstate.backup",
    "*.kdbx",
    "*.jks",
    "*.keystore",
    "token",
    "token.txt",
    "token.json",
    "api_token*",
    "*_token",
    "*-token",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    "secrets.toml",
    "secrets.env",
    "secrets.txt",
    // ... and its second pass: more credential files by name, shell histories, password
    // stores, and the git configuration files other than `.git/config` (a submodule's remote
    // URL carries its token just the same).
    "credentials.toml",
    "application_default_credentials.json",
    "*.p8",
    ".dev.vars",
    "*.tfvars",
    "*.tfvars.json",
    "kubeconfig",
    ".git-credentials*",
    "secret.txt",
    ".secrets",
    ".terraformrc",
    ".clasprc.json",
    ".claude.json",
    "*_history",
    "logins.json",
    "key4.db",
    "**/.composer/auth.json",
    "**/.config/rclone/**",
    "**/.config/hub",
    "**/.m2/settings.xml",
    "**/.gradle/gradle.properties",
    "**/.oci/**",
    "**/.local/share/keyrings/**",
    "**/.password-store/**",
    "**/.git/config.worktree",
    "**/.git/modules/**/config",
    "**/.git/worktrees/*/config.worktree",
    "password.txt",
    "passwords.txt",
    "credentials.txt",
    "rclone.conf",
    // ... and its third pass.
    "**/.config/github-copilot/**",
    "**/.config/sops/**",
    ".dockercfg",
    "**/.codex/auth.json",
    "**/.gemini/oauth_creds.json",
    "**/.config/stripe/**",
    "**/.config/doctl/**",
    "**/.fly/config.yml",
    "**/.config/configstore/**",
    "**/.vercel/auth.json",
    "**/.config/ngrok/**",
    "**/.ngrok2/**",
    "**/.config/anthropic/**",
    "**/.m2/settings-security.xml",
    "**/.purple/accounts.xml",
    "**/.config/filezilla/**",
    "**/.config/op/**",
    "**/.local/share/atuin/**",
    "Login Data",
    "*.ppk",
    "*.asc",
    ".yarnrc.yml",
    ".p4tickets",
    "api_key*",
    "*.keychain-db",
];

/// Temporary directories where writes outside the project are fine.
const TEMP_DIRS: &[&str] = &["/tmp", "/var/tmp", "/private/tmp", "/dev/shm"];

/// Protected file groups (writes denied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protected {
    /// `.env*` (not `.env.example` and the like), files in `.env*/` directories.
    EnvFiles,
    /// `.ssh` directories.
    Ssh,
    /// `.git` directories (the repository internals).
    GitInternals,
    /// `.claude/settings*.json`.
    ClaudeSettings,
    /// Maestro's data dir, token files, config and any extra protected path.
    MaestroData,
    /// Shell startup files (`~/.bashrc`, `~/.profile`, ...) and `~/.gitconfig`: what the next
    /// shell or git runs.
    ShellStartup,
}

/// A built-in test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The input could not be parsed or understood.
    NotUnderstood,
    /// A fork bomb.
    ForkBomb,
    /// Runs code downloaded from the network.
    DownloadToShell,
    /// Formats or partitions a disk.
    DiskFormat,
    /// Writes to a device file.
    DeviceWrite,
    /// Shuts down or reboots the machine.
    SystemPower,
    /// Recursive delete of `/`, the home dir, or an ancestor of home or the project.
    DeleteRootOrHome,
    /// Recursive delete of anything not strictly inside the project.
    DeleteOutsideProject,
    /// Recursive delete of a target only known at run time.
    DeleteUnknown,
    /// `chmod`/`chown`/`chgrp -R` outside the project.
    ChmodOutsideProject,
    /// Writes to a protected group.
    Write(Protected),
    /// Reads Maestro's tokens or data.
    ReadMaestroSecrets,
    /// Reads SSH private keys.
    ReadSshKeys,
    /// Force-push (or delete, mirror) to main / master.
    ForcePushMain,
    /// Writes outside the project and temp dirs.
    WriteOutsideProject,
    /// Sends a secret file, or a file outside the project and temp dirs, to the network.
    Exfiltration,
    /// Reads a process environment or memory (`/proc/*/environ`, `ps e`).
    ProcessEnvironment,
    /// A read-only tool inside the project.
    ReadOnlyTool,
    /// A read-only command inside the project.
    ReadOnlyCommand,
}

impl Check {
    /// One line saying what the test checks (shown when listing rules).
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Check::NotUnderstood => "the call could not be parsed or understood",
            Check::ForkBomb => "a function that calls itself in a pipeline or in the background",
            Check::DownloadToShell => "code from curl/wget/... run by a shell or interpreter",
            Check::DiskFormat => "mkfs, mkswap, wipefs, fdisk, parted, ...",
            Check::DeviceWrite => "writes to /dev/* (other than null, stdout, ...)",
            Check::SystemPower => "shutdown, reboot, halt, poweroff",
            Check::DeleteRootOrHome => "recursive delete of /, home, or an ancestor of either",
            Check::DeleteOutsideProject => {
                "recursive delete of a path not strictly inside the project"
            }
            Check::DeleteUnknown => "recursive delete of a path only known at run time",
            Check::ChmodOutsideProject => "chmod/chown/chgrp -R outside the project",
            Check::Write(Protected::EnvFiles) => {
                "writes to .env* files (.env, .env.local, .envrc, ...)"
            }
            Check::Write(Protected::Ssh) => "writes to .ssh directories",
            Check::Write(Protected::GitInternals) => "writes to .git/ internals",
            Check::Write(Protected::ClaudeSettings) => {
                "writes to .claude/settings*.json, .mcp.json, ~/.claude.json"
            }
            Check::Write(Protected::MaestroData) => "writes to Maestro's data, tokens, config",
            Check::Write(Protected::ShellStartup) => "writes to shell startup files, ~/.gitconfig",
            Check::Exfiltration => "uploads of secret files or files outside the project",
            Check::ProcessEnvironment => "reads of /proc/*/environ, /proc/*/mem, `ps e`",
            Check::ReadMaestroSecrets => "reads of Maestro's tokens and data",
            Check::ReadSshKeys => "reads of SSH private keys",
            Check::ForcePushMain => "git push --force (or delete, mirror) to main/master",
            Check::WriteOutsideProject => "writes outside the project and temp dirs",
            Check::ReadOnlyTool => "Read/Glob/Grep/LS inside the project",
            Check::ReadOnlyCommand => "clearly read-only commands inside the project",
        }
    }

    /// Runs the test; `Some(detail)` when it matches.
    pub(crate) fn test(self, s: &Subject<'_>, env: &Env<'_>) -> Option<String> {
        let ctx = env.ctx;
        let cmd = s.command;
        let program = cmd.and_then(|c| c.program.as_deref()).unwrap_or_default();
        let text = || cmd.map(|c| format!("`{}`", c.text)).unwrap_or_default();
        match self {
            Check::NotUnderstood => s.problem.clone(),
            Check::ForkBomb => cmd.filter(|c| c.fork_bomb).map(|_| text()),
            Check::DownloadToShell => {
                let c = cmd?;
                let from = c
                    .runs_code_from
                    .iter()
                    .find(|p| DOWNLOADERS.contains(&p.as_str()))?;
                Some(format!("{} runs code from {from}", text()))
            }
            Check::DiskFormat => {
                let hit = program.starts_with("mkfs")
                    || matches!(
                        program,
                        "mke2fs"
                            | "mkswap"
                            | "wipefs"
                            | "fdisk"
                            | "sfdisk"
                            | "parted"
                            | "sgdisk"
                            | "cfdisk"
                            | "gdisk"
                    );
                hit.then(text)
            }
            Check::DeviceWrite => find_access(s, |a| {
                a.kind.changes()
                    && a.path
                        .as_ref()
                        .is_some_and(|p| p.forms().any(|f| f.starts_with("/dev/")))
            }),
            Check::SystemPower => {
                let args = cmd.map(|c| c.arg_values()).unwrap_or_default();
                let first = args.first().copied().flatten();
                let hit = matches!(program, "shutdown" | "reboot" | "halt" | "poweroff")
                    || (program == "init" && matches!(first, Some("0" | "6")))
                    || (program == "systemctl"
                        && args.iter().flatten().any(|a| {
                            matches!(*a, "poweroff" | "reboot" | "halt" | "kexec" | "suspend")
                        }));
                hit.then(text)
            }
            Check::DeleteRootOrHome => find_access(s, |a| {
                a.kind == EffectKind::Delete
                    && a.recursive
                    && a.path.as_ref().is_some_and(|p| is_root_or_home(p, ctx))
            }),
            Check::DeleteOutsideProject => {
                let root = env.roots()?;
                find_access(s, |a| {
                    a.kind == EffectKind::Delete
                        && a.recursive
                        && a.path.as_ref().is_some_and(|p| {
                            !strictly_inside(p, root) && !in_temp(p) && !in_user_cache(p, ctx)
                        })
                })
            }
            Check::DeleteUnknown => find_access(s, |a| {
                a.kind == EffectKind::Delete
                    && a.recursive
                    && a.path.is_none()
                    && !below_tmpdir_variable(&a.written)
                    && !cmd.is_some_and(|c| is_fresh_reference(&a.written, &c.fresh_temps))
            }),
            Check::ChmodOutsideProject => {
                if !matches!(program, "chmod" | "chown" | "chgrp") {
                    return None;
                }
                let root = env.roots();
                find_access(s, |a| {
                    a.recursive
                        && a.kind == EffectKind::Write
                        && match (&a.path, &root) {
                            (Some(p), Some(root)) => !inside(p, root),
                            (Some(p), None) => is_root_or_home(p, ctx),
                            (None, _) => true,
                        }
                })
            }
            Check::Write(group) => {
                let globs = env.protected(group);
                if group == Protected::EnvFiles && copies_env_template(s) {
                    return None;
                }
                find_access(s, |a| {
                    a.kind.changes()
                        && !harmless_protected_change(group, a)
                        && a.path.as_ref().is_some_and(|p| {
                            globs.iter().any(|(g, name)| {
                                if *name {
                                    name_matches(g, p)
                                } else {
                                    path_matches(g, p)
                                }
                            }) && !exempt(group, p)
                        })
                })
            }
            Check::ReadMaestroSecrets => {
                if listing_only(s) {
                    return None;
                }
                let globs = env.secrets();
                find_access(s, |a| {
                    a.kind.reads()
                        && a.path
                            .as_ref()
                            .is_some_and(|p| reads_any(p, a.recursive, globs))
                })
            }
            Check::ReadSshKeys => {
                if listing_only(s) {
                    return None;
                }
                let glob = Glob::new("**/.ssh/id_*", true);
                // A recursive read (`cp -r`, `grep -r`) of a tree holding ~/.ssh.
                let home_keys = env.home_keys();
                find_access(s, |a| {
                    a.kind.reads()
                        && a.path.as_ref().is_some_and(|p| {
                            (path_matches(&glob, p) && !p.lexical.ends_with(".pub"))
                                || (a.recursive
                                    && !p.is_glob()
                                    && home_keys
                                        .as_ref()
                                        .is_some_and(|g| p.forms().any(|f| g.matches_below(f))))
                        })
                })
            }
            Check::ForcePushMain => force_push_main(s),
            Check::WriteOutsideProject => {
                let root = env.roots()?;
                let plans = ctx.home.as_deref().map(|h| format!("{h}/.claude/plans"));
                find_access(s, |a| {
                    a.kind.changes()
                        && !harmless_protected_change(Protected::Ssh, a)
                        && a.path.as_ref().is_some_and(|p| {
                            !inside(p, root)
                                && !in_user_cache(p, ctx)
                                && (!in_user_dir(p, ctx, CONFIG) || is_secret(p, env))
                                && !p.forms().all(|f| {
                                    TEMP_DIRS.iter().any(|t| is_within(f, t))
                                        || plans.as_deref().is_some_and(|d| is_within(f, d))
                                })
                        })
                })
            }
            Check::Exfiltration => {
                let roots = env.roots();
                find_access(s, |a| {
                    let known = a
                        .path
                        .clone()
                        .or_else(|| with_inert_variables(&a.written, ctx));
                    a.kind == EffectKind::Upload
                        && known.as_ref().is_some_and(|p| {
                            (roots.is_none_or(|r| !inside(p, r)) && !in_temp(p))
                                // The whole project: `.env`, `.git/config`, keys come along.
                                || (a.recursive && roots.is_some_and(|r| !strictly_inside(p, r)))
                                || is_secret(p, env)
                                || reads_any(p, a.recursive, env.secrets())
                        })
                })
            }
            Check::ProcessEnvironment => {
                if program == "ps"
                    && ps_shows_environment(cmd.map(|c| c.arg_values()).unwrap_or_default())
                {
                    return Some(text());
                }
                // A path only known at run time (`/proc/$(pgrep x)/environ`) as written.
                if cmd.is_some_and(|c| {
                    c.argv.iter().any(|w| {
                        w.raw.contains("/proc/")
                            && (w.raw.contains("environ") || w.raw.ends_with("/mem"))
                    })
                }) {
                    return Some(text());
                }
                find_access(s, |a| {
                    a.kind.reads()
                        && match &a.path {
                            Some(p) => p.forms().any(is_process_secret),
                            None => is_process_secret(&a.written),
                        }
                })
            }
            Check::ReadOnlyTool => {
                if !READ_TOOLS.contains(&s.tool) || s.problem.is_some() {
                    return None;
                }
                let root = env.roots()?;
                all_reads_inside(s, root, env).then(|| "inside the project".to_string())
            }
            Check::ReadOnlyCommand => {
                let c = cmd?;
                if !matches!(c.role, Role::Pure | Role::Reader)
                    || c.problem.is_some()
                    || !c.runs_code_from.is_empty()
                {
                    return None;
                }
                // git runs programs its configuration names (`core.fsmonitor` on every look at
                // the work tree): only in the project directory itself (Claude Code keeps a `cd`
                // across calls, and below it git may find an embedded repository), and only
                // when the probe finds that the repository and the configuration git reads
                // there name no program the read-only commands could start.
                if program == "git" && (!cwd_is_project_root(ctx) || !env.git_runs_nothing()) {
                    return None;
                }
                if s.accesses.is_empty() {
                    return Some(text());
                }
                let root = env.roots()?;
                all_reads_inside(s, root, env).then(text)
            }
        }
    }
}

/// `~/.config`: the user's own configuration.
const CONFIG: &str = ".config";

/// The user's caches (everything in them can be downloaded or rebuilt again): the XDG cache
/// and the package managers' own cache directories.
const CACHES: &[&str] = &[
    ".cache",
    ".npm/_cacache",
    ".npm/_npx",
    ".npm/_logs",
    ".pnpm-store",
    ".yarn/cache",
    ".yarn/berry/cache",
    ".cargo/registry/cache",
    ".cargo/git/checkouts",
    ".m2/repository",
    ".gradle/caches",
    ".ivy2/cache",
    ".nuget/packages",
    "go/pkg/mod/cache",
    "Library/Caches",
];

/// Strictly inside one of the user's [`CACHES`] (or that cache directory itself when it lies
/// below the home dir's first level: `~/.npm/_cacache`, not `~/.cache`).
fn in_user_cache(p: &Resolved, ctx: &EvalContext) -> bool {
    CACHES.iter().any(|dir| {
        in_user_dir(p, ctx, dir)
            || (dir.contains('/')
                && ctx.home.as_deref().is_some_and(|h| {
                    let base = format!("{}/{dir}", paths::normalize(h).trim_end_matches('/'));
                    !p.uncertain && p.forms().all(|f| f == base)
                }))
    })
}

/// Strictly inside `~/<dir>` in every form (not `~/<dir>` itself).
fn in_user_dir(p: &Resolved, ctx: &EvalContext, dir: &str) -> bool {
    let Some(home) = ctx.home.as_deref().map(paths::normalize) else {
        return false;
    };
    let base = format!("{}/{dir}", home.trim_end_matches('/'));
    !p.uncertain && p.forms().all(|f| is_within(f, &base) && f != base)
}

/// A path written as below `$TMPDIR` (`"$TMPDIR/build"`, `${TMPDIR}/x`), not `$TMPDIR` itself.
fn below_tmpdir_variable(written: &str) -> bool {
    let w = written.trim_start_matches('"');
    ["$TMPDIR/", "${TMPDIR}/", "${TMPDIR:?}/", "${TMPDIR:-/tmp}/"]
        .iter()
        .any(|p| {
            w.strip_prefix(p).is_some_and(|rest| {
                let rest = rest.trim_end_matches('"');
                !rest.is_empty()
                    && !rest.contains("..")
                    && !rest.contains(['$', '`', '*', '?', '['])
                    && !rest.trim_matches('/').is_empty()
            })
        })
}

/// A path written with the session's own `$HOME` / `$PWD` / `$(pwd)` (`curl -d @"$PWD/.env"`),
/// resolved with the context's values: good enough to recognise a secret being sent (deny); such
/// a path is never taken as proof of anything allowed.
fn with_inert_variables(written: &str, ctx: &EvalContext) -> Option<Resolved> {
    let mut text = written.replace('"', "");
    let home = ctx.home.as_deref()?;
    let cwd = ctx.cwd.as_deref().or(ctx.project_dir.as_deref())?;
    for (var, value) in [
        ("${HOME}", home),
        ("$HOME", home),
        ("${PWD}", cwd),
        ("$PWD", cwd),
        ("$(pwd)", cwd),
    ] {
        text = text.replace(var, value);
    }
    if text.contains(['$', '`']) || !text.starts_with('/') {
        return None;
    }
    paths::resolve_tool_path(&text, ctx)
}

/// The session's working directory is the project directory (not a directory below it).
fn cwd_is_project_root(ctx: &EvalContext) -> bool {
    match (ctx.cwd.as_deref(), paths::project_root(ctx)) {
        (Some(cwd), Some(root)) => paths::normalize(cwd) == paths::normalize(&root),
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Everyday changes to protected places that cannot run code or leak anything, asked rather
/// than denied: removing git's own leftovers as git itself advises (`rm -f .git/index.lock`,
/// `rm -fr .git/rebase-merge`, `rm .git/gc.log`), adding ignore patterns to
/// `.git/info/exclude`, recording host keys in `~/.ssh/known_hosts` (`ssh-keyscan h >>`).
fn harmless_protected_change(group: Protected, a: &FileAccess) -> bool {
    let Some(p) = a.path.as_ref().filter(|p| !p.is_glob()) else {
        return false;
    };
    let after_git = |f: &str| f.split_once("/.git/").map(|(_, rest)| rest.to_string());
    match group {
        Protected::GitInternals if a.kind == EffectKind::Delete => p.forms().all(|f| {
            after_git(f).is_some_and(|rest| {
                let transient = [
                    "rebase-merge",
                    "rebase-apply",
                    "sequencer",
                    "gc.log",
                    "MERGE_HEAD",
                    "MERGE_MSG",
                    "MERGE_MODE",
                    "CHERRY_PICK_HEAD",
                    "REVERT_HEAD",
                    "AUTO_MERGE",
                ];
                (rest.ends_with(".lock") && !a.recursive)
                    || transient.contains(&rest.trim_end_matches('/'))
            })
        }),
        Protected::GitInternals if a.kind == EffectKind::Write && !a.recursive => p
            .forms()
            .all(|f| after_git(f).is_some_and(|rest| rest == "info/exclude")),
        Protected::Ssh if a.kind == EffectKind::Write && !a.recursive => {
            p.forms().all(|f| f.ends_with("/.ssh/known_hosts"))
        }
        _ => false,
    }
}

/// `cp .env.example .env`, `cat .env.example > .env.local`: every file the command reads is
/// an env template.
fn copies_env_template(s: &Subject<'_>) -> bool {
    let program = s.command.and_then(|c| c.program.as_deref());
    if !matches!(program, Some("cp" | "install" | "cat")) {
        return false;
    }
    // A reader's own working directory counts as read (`.`): not a source of content.
    let mut sources = s
        .accesses
        .iter()
        .filter(|a| a.kind == EffectKind::Read && a.written != ".")
        .peekable();
    sources.peek().is_some()
        && sources.all(|a| {
            a.path
                .as_ref()
                .is_some_and(|p| !p.is_glob() && exempt(Protected::EnvFiles, p))
        })
}

/// Whether the file looks like a secret (`.env*` but templates, keys, cloud credentials,
/// tokens) or is one of Maestro's or Claude Code's secrets.
fn is_secret(p: &Resolved, env: &Env<'_>) -> bool {
    env.secret_names().iter().any(|(g, _)| name_matches(g, p)) && !exempt(Protected::EnvFiles, p)
        || reads_any(p, false, env.secrets())
}

/// `/proc/<pid>/environ`, `/proc/<pid>/mem` (and their task variants), in any spelling.
fn is_process_secret(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/proc/") else {
        return false;
    };
    let last = rest.rsplit('/').next().unwrap_or_default();
    last.contains("environ")
        || last == "mem"
        || (super::glob::has_glob_chars(last)
            && (glob_match_name(last, "environ") || glob_match_name(last, "mem")))
}

fn glob_match_name(pattern: &str, name: &str) -> bool {
    super::glob::glob_match(pattern, name, true)
}

/// `ps` with a BSD-style `e` (show the environment: `ps e`, `ps auxe`, `ps eww`) or `-E`.
fn ps_shows_environment(args: Vec<Option<&str>>) -> bool {
    const WITH_VALUE: &[&str] = &[
        "-o",
        "-O",
        "-p",
        "-u",
        "-U",
        "-g",
        "-G",
        "-C",
        "-t",
        "-q",
        "-s",
        "--format",
        "--pid",
        "--ppid",
        "--user",
        "--User",
        "--group",
        "--Group",
        "--sort",
        "--tty",
        "--sid",
        "--quick-pid",
        "--cols",
        "--columns",
        "--rows",
        "--width",
        "o",
        "O",
        "p",
        "U",
        "t",
        "k",
    ];
    let mut skip = false;
    for a in args {
        let Some(a) = a else {
            return true;
        };
        if skip {
            skip = false;
            continue;
        }
        if WITH_VALUE.contains(&a) {
            skip = true;
            continue;
        }
        if a == "-E" || a == "--env" {
            return true;
        }
        if !a.starts_with('-') && a.chars().all(|c| c.is_ascii_alphabetic()) && a.contains('e') {
            return true;
        }
    }
    false
}

/// Glob and LS list names and read no content.
fn listing_only(s: &Subject<'_>) -> bool {
    matches!(s.tool, "Glob" | "LS")
}

fn find_access(s: &Subject<'_>, pred: impl Fn(&FileAccess) -> bool) -> Option<String> {
    let a = s.accesses.iter().find(|a| pred(a))?;
    let shown = a
        .path
        .as_ref()
        .map_or_else(|| a.written.clone(), |p| p.lexical.clone());
    Some(match s.command {
        Some(c) => format!("`{}` on {shown}", c.text),
        None => shown,
    })
}

/// Within a work root (lexically, and after symlink resolution when known).
fn inside(p: &Resolved, roots: &[Root]) -> bool {
    !p.uncertain
        && roots
            .iter()
            .any(|root| is_within(&p.lexical, &root.lexical))
        && p.real.as_deref().is_none_or(|r| {
            roots
                .iter()
                .any(|root| is_within(r, &root.real) || is_within(r, &root.lexical))
        })
}

/// Strictly inside a temp dir (`/tmp/x`, not `/tmp` itself), in every form.
fn in_temp(p: &Resolved) -> bool {
    p.forms()
        .all(|f| TEMP_DIRS.iter().any(|t| is_within(f, t) && f != *t))
}

/// Inside a work root and not a work root itself.
fn strictly_inside(p: &Resolved, roots: &[Root]) -> bool {
    inside(p, roots)
        && roots.iter().all(|root| {
            p.lexical != root.lexical
                && p.real
                    .as_deref()
                    .is_none_or(|r| r != root.real && r != root.lexical)
        })
}

/// Every access is a read inside the work roots, of nothing that looks like a secret.
fn all_reads_inside(s: &Subject<'_>, roots: &[Root], env: &Env<'_>) -> bool {
    let secrets = env.secret_names();
    let secret = |p: &Resolved| {
        let last = p.lexical.rsplit('/').next().unwrap_or_default();
        // A glob argument is taken to name a secret when it starts like one (`.env*`, `id_*`)
        // or shares a suffix pattern with one (`*.pem`); `src/*.rs` and `*` are not.
        let starts_literal = !last.starts_with(['*', '?', '[']);
        // A glob may match any file, symlinks included (`a/*` reaching `a/tok -> token`,
        // `[c]redentials.json`): only `dir/*.ext` with a source-like extension is read.
        // Programs that print names, sizes or types but no content are not concerned.
        let metadata_only = s
            .command
            .and_then(|c| c.program.as_deref())
            .is_some_and(|p| matches!(p, "ls" | "du" | "file" | "stat" | "wc" | "tree"));
        if p.is_glob() && !metadata_only && !source_glob(&p.lexical) {
            return true;
        }
        secrets
            .iter()
            .any(|(g, suffix)| (!p.is_glob() || starts_literal || *suffix) && name_matches(g, p))
            && !exempt(Protected::EnvFiles, p)
    };
    s.accesses.iter().all(|a| {
        a.kind == EffectKind::Read
            && a.path
                .as_ref()
                .is_some_and(|p| inside(p, roots) && !secret(p))
    })
}

/// Whether a glob path only has wildcards in its last component and that component ends in
/// a literal source-like extension (`src/*.rs`, `docs/*.md`).
fn source_glob(path: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        "rs", "md", "toml", "ts", "tsx", "js", "jsx", "mjs", "py", "go", "c", "h", "cc", "cpp",
        "hpp", "java", "kt", "rb", "sh", "txt", "html", "css", "scss", "yml", "yaml", "lock",
        "log", "sql", "proto", "swift", "vue", "svelte", "lua", "zig", "ex", "exs", "rst",
    ];
    let (dir, last) = path.rsplit_once('/').unwrap_or(("", path));
    if dir
        .split('/')
        .any(|c| c != "**" && super::glob::has_glob_chars(c))
    {
        return false;
    }
    let Some((stem, ext)) = last.rsplit_once('.') else {
        return false;
    };
    !super::glob::has_glob_chars(ext) && EXTENSIONS.contains(&ext) && !stem.starts_with('.')
}

/// `/`, the home dir, an ancestor of home, a strict ancestor of the project, or everything
/// directly in one of those (`/*`, `~/*`).
fn is_root_or_home(p: &Resolved, ctx: &EvalContext) -> bool {
    let home = ctx.home.as_deref().map(paths::normalize);
    let project = paths::project_root(ctx);
    p.forms().any(|f| {
        let f = if p.is_glob() {
            parent_of_glob(f)
        } else {
            f.to_string()
        };
        f == "/"
            || home.as_deref().is_some_and(|h| is_within(h, &f))
            || project
                .as_deref()
                .is_some_and(|d| is_within(d, &f) && d != f)
    })
}

/// The directory before the first glob component of `path`.
fn parent_of_glob(path: &str) -> String {
    let comps: Vec<&str> = path.split('/').collect();
    let cut = comps
        .iter()
        .position(|c| super::glob::has_glob_chars(c))
        .unwrap_or(comps.len());
    let head = comps[..cut].join("/");
    if head.is_empty() {
        "/".into()
    } else {
        head
    }
}

/// Like [`path_matches`] for a file-name glob (`**/operator.token`), except that a path glob
/// ending in a bare wildcard (`dir/*`) is not taken to name that file: `du -sh *` does not read
/// a token that may or may not be there, `cat dir/*.token` does.
fn name_matches(glob: &Glob, p: &Resolved) -> bool {
    let last = p.lexical.rsplit('/').next().unwrap_or_default();
    if p.is_glob() && last.chars().all(|c| c == '*' || c == '?') {
        return false;
    }
    path_matches(glob, p)
}

/// Protected globs of a group, each with whether it is a file-name pattern.
fn protected_globs(group: Protected, ctx: &EvalContext) -> Vec<(Glob, bool)> {
    let patterns: Vec<String> = match group {
        Protected::EnvFiles => vec![".env*".into(), "**/.env*/**".into()],
        Protected::Ssh => vec!["**/.ssh".into(), "**/.ssh/**".into()],
        Protected::GitInternals => vec!["**/.git".into(), "**/.git/**".into()],
        Protected::ClaudeSettings => vec![
            "**/.claude/settings*.json".into(),
            "**/.mcp.json".into(),
            "~/.claude.json".into(),
            "~/.claude/.credentials.json".into(),
        ],
        Protected::ShellStartup => [
            ".bashrc",
            ".bash_profile",
            ".bash_login",
            ".bash_logout",
            ".profile",
            ".zshrc",
            ".zshenv",
            ".zprofile",
            ".zlogin",
            ".inputrc",
            ".gitconfig",
            ".config/git/config",
            ".config/git/attributes",
            ".config/fish/config.fish",
        ]
        .iter()
        .map(|n| format!("~/{n}"))
        .collect(),
        Protected::MaestroData => {
            let mut v: Vec<String> = vec![
                "{data_dir}".into(),
                "{data_dir}/**".into(),
                "ingest.token".into(),
                "operator.token".into(),
                "~/.local/share/maestro*".into(),
                "~/.local/share/maestro*/**".into(),
                "~/.config/maestro*".into(),
                "~/.config/maestro*/**".into(),
            ];
            for p in &ctx.protected_paths {
                v.push(p.clone());
                v.push(format!("{}/**", p.trim_end_matches('/')));
            }
            v
        }
    };
    patterns
        .iter()
        .filter_map(|p| Some((Glob::new(&expand_pattern(p, ctx)?, true), !p.contains('/'))))
        .collect()
}

fn exempt(group: Protected, p: &Resolved) -> bool {
    if group != Protected::EnvFiles || p.is_glob() {
        return false;
    }
    // Every form: `cfg.sample` that is a symlink to `.env` is `.env`.
    p.forms().all(|f| {
        let name = f.rsplit('/').next().unwrap_or_default();
        [".example", ".sample", ".template", ".dist", ".defaults"]
            .iter()
            .any(|s| name.ends_with(s))
    })
}

/// Secret file globs: (anchored ones, also checked against recursive reads; file names).
fn secret_globs(ctx: &EvalContext) -> (Vec<Glob>, Vec<Glob>) {
    let names = ["ingest.token", "operator.token"]
        .iter()
        .filter_map(|p| expand_pattern(p, ctx))
        .map(|p| Glob::new(&p, true))
        .collect();
    let mut v: Vec<String> = vec![
        "{data_dir}/**".into(),
        "~/.local/share/maestro*/**".into(),
        "~/.config/maestro*/**".into(),
        "~/.claude/.credentials.json".into(),
    ];
    for p in &ctx.protected_paths {
        v.push(p.clone());
        v.push(format!("{}/**", p.trim_end_matches('/')));
    }
    let anchored = v
        .iter()
        .filter_map(|p| expand_pattern(p, ctx))
        .map(|p| Glob::new(&p, true))
        .collect();
    (anchored, names)
}

/// Whether reading `p` (its whole tree when `recursive`) can read a file matching `anchored`
/// (or, for `p` itself, `names`).
fn reads_any(p: &Resolved, recursive: bool, (anchored, names): &(Vec<Glob>, Vec<Glob>)) -> bool {
    if anchored.iter().any(|g| path_matches(g, p)) || names.iter().any(|g| name_matches(g, p)) {
        return true;
    }
    let globs = anchored;
    recursive
        && p.forms().any(|f| {
            let dir = if p.is_glob() {
                parent_of_glob(f)
            } else {
                f.to_string()
            };
            globs.iter().any(|g| g.matches_below(&dir))
        })
}

fn force_push_main(s: &Subject<'_>) -> Option<String> {
    let c = s.command?;
    if c.program.as_deref() != Some("git") {
        return None;
    }
    let args = c.arg_values();
    let mut i = 0;
    while let Some(Some(a)) = args.get(i) {
        match *a {
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" => i += 2,
            a if a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    if args.get(i).copied().flatten() != Some("push") {
        return None;
    }
    let rest = &args[i + 1..];
    let mut force = false;
    let mut all = false;
    let mut positionals: Vec<Option<&str>> = Vec::new();
    for a in rest {
        match a {
            Some(a) if a.starts_with("--") => {
                force |= a.starts_with("--force")
                    || *a == "--mirror"
                    || *a == "--delete"
                    || *a == "--prune";
                all |= *a == "--all" || *a == "--mirror" || *a == "--branches";
            }
            Some(a) if a.starts_with('-') && a.len() > 1 => {
                force |= a[1..].contains('f') || a[1..].contains('d');
            }
            other => positionals.push(*other),
        }
    }
    let refspecs = positionals.get(1..).unwrap_or_default();
    force |= refspecs
        .iter()
        .any(|r| r.is_some_and(|r| r.starts_with('+') || r.starts_with(':')));
    if !force {
        return None;
    }
    let protected = |r: &Option<&str>| match r {
        None => true,
        Some(r) => {
            let dst = r.trim_start_matches('+');
            let dst = dst.rsplit(':').next().unwrap_or(dst);
            let dst = dst.trim_start_matches("refs/heads/");
            matches!(dst, "main" | "master" | "HEAD" | "")
        }
    };
    (all || refspecs.is_empty() || refspecs.iter().any(protected)).then(|| {
        if refspecs.is_empty() && !all {
            format!(
                "`{}` (no branch named: the current branch may be main)",
                c.text
            )
        } else {
            format!("`{}`", c.text)
        }
    })
}

//! Permission policy: decides allow, deny, ask or hold for a tool call.
//!
//! Used by the server (for `PreToolUse` / `PermissionRequest` decisions) and by the hook's
//! offline fallback ([`local_fallback`]). Pure code: no I/O (symlinks are resolved through the
//! optional [`PathResolver`] the caller puts in the [`EvalContext`]).
//!
//! # How a call is evaluated
//!
//! A call is split into *subjects*: for a Bash call, every simple command of the command line
//! (across `;`, `&&`, `||`, pipes, subshells, `$(...)`, backticks, `bash -c`/`sh -c`/`eval`
//! payloads, here-documents fed to a shell, wrappers such as `sudo`/`env`/`timeout`/`xargs`/
//! `find -exec`); for a file tool, its file; for any other tool, the call itself. Each subject
//! gets the outcome of the first rule that matches it (or the fallback, ask by default), and
//! the call gets the most restrictive of those: deny > hold > ask > allow. A Bash command that
//! cannot be parsed or understood is never allowed (rule `ask.not-understood`).
//!
//! Outcomes: `allow` (run without a prompt), `deny` (block; the reason goes to Claude), `ask`
//! (Maestro has no opinion: Claude Code's own permission flow applies), `hold` (wait for a human
//! in the Maestro UI).
//!
//! Rule order: the built-in *guard* rules (the dangerous set, denied, and `ask.not-understood`),
//! then user rules (newest layer first), then the built-in allow rules, then the fallback.
//! User rules therefore cannot loosen the guard rules by accident; they can change one only by
//! naming its id. [`Policy::rules`] lists them in evaluation order.
//!
//! # Default policy ([`Policy::builtin`])
//!
//! - deny: fork bombs; `curl`/`wget` output run by a shell or interpreter (`curl x | sh`,
//!   `bash <(curl x)`, `eval "$(curl x)"`); `mkfs` and other disk formatting; writes to `/dev/*`
//!   (`dd of=/dev/sda`); shutdown/reboot; recursive delete of `/`, home, their ancestors, the
//!   project dir itself or anything outside the project (temp dirs and `~/.cache/*` excepted),
//!   or of a target only known at run time (`rm -rf "$X"`, `xargs rm -rf`; `"$TMPDIR/x"`
//!   excepted); `chmod -R`/`chown -R` outside the project; writes to `.env*` (not
//!   `.env.example`; `cp .env.example .env` is asked), `.envrc`, `.ssh/`, `.git/` internals
//!   (git commands are fine), `.claude/settings*.json`, `.mcp.json`, `~/.claude.json`, shell
//!   startup files and `~/.gitconfig`, Maestro's data dir / token files / config and
//!   [`EvalContext::protected_paths`]; reads of Maestro's tokens and data, of
//!   `~/.claude/.credentials.json`, of SSH private keys and of process environments
//!   (`/proc/*/environ`, `/proc/*/mem`, `ps e`); uploads of secret files or files outside the
//!   project and temp dirs (`curl -d @f`, `-F x=@f`, `-T f`, `wget --post-file`, `scp`/`rsync` to a remote,
//!   a file on the stdin of `nc`/`ssh`/`curl`/..., `cat f | curl -d @-`); `git push --force`
//!   (or `--delete`, `--mirror`, `+ref`) to main/master or with no branch named; writes outside
//!   the project (temp dirs, `~/.cache`, and `~/.config` but secret files excepted).
//! - allow: Read, Glob, Grep, LS inside the project; TaskCreate/TaskUpdate/TaskGet/TaskList/
//!   TodoWrite; provably read-only commands inside the project: every program on the allow list
//!   of `programs.rs` with every option on its list (matched as `getopt_long` / git match them,
//!   abbreviations included), every operand classified, every file read inside the project.
//!   Reads of files that look like secrets (`.env*`, `*.pem`, `*.key`, `id_rsa*`, `.netrc`,
//!   cloud credentials, ...) are never auto-allowed, nor are programs run from the project
//!   (`./ls`, `bin/cat`), lines that assign a variable (lowercase and locale / colour names
//!   excepted) or have an arithmetic / subscript context that can evaluate one.
//! - ask: everything else (file edits inside the project, builds, network tools, MCP tools,
//!   options not on a program's list, truncated or unparseable input).
//!
//! "The project" is the project dir (the cwd when it is not known), plus the session cwd when
//! it lies elsewhere (a worktree), unless that cwd is `/`, the home dir or one of its ancestors.
//! Paths are resolved against the cwd (following `cd` earlier in the same command line; a `cd`
//! to a directory only known at run time makes later relative paths unknown), `..` is
//! normalised lexically for the lexical form, and the path as written goes to the
//! [`PathResolver`] for the real form (symlinks before `..`, as the kernel does). A path written
//! as a shell glob (`rm ~/*`, `cat dir/[o]perator.token`) matches a rule when some file could
//! match both.
//!
//! Rule ids of the default policy (see [`Policy::rules`] for reasons): `deny.fork-bomb`,
//! `deny.download-piped-to-shell`, `deny.disk-format`, `deny.write-device`,
//! `deny.system-power`, `deny.rm-recursive-root-or-home`, `deny.rm-recursive-outside-project`,
//! `deny.rm-recursive-unknown-target`, `deny.chmod-recursive-outside-project`,
//! `deny.write-env-files`, `deny.write-ssh`, `deny.write-git-internals`,
//! `deny.write-claude-settings`, `deny.write-maestro-data`, `deny.read-maestro-tokens`,
//! `deny.read-process-environment`, `deny.exfiltration`, `deny.write-shell-startup`,
//! `deny.read-ssh-private-keys`, `deny.git-force-push-main`, `deny.write-outside-project`,
//! `ask.not-understood`, `allow.read-only-tools`, `allow.task-tools`,
//! `allow.read-only-commands`; `default:<outcome>` when no rule matches.
//!
//! # Policy file format (TOML)
//!
//! ```toml
//! [defaults]
//! fallback = "ask"            # outcome when no rule matches: allow | deny | ask | hold
//!
//! [[rule]]
//! id = "hold-prod-deploy"     # required; unique
//! tool = "Bash"               # tool-name glob or list of globs ("mcp__github__*"); default any
//! command = "kubectl *"       # glob(s) over each simple command, program and arguments
//! outcome = "hold"            # allow | deny | ask | hold
//! reason = "Deploys need a human."
//!
//! [[rule]]
//! id = "hold-migrations"
//! path = ["**/migrations/**", "{project}/db/schema.sql"]
//! access = "write"            # read | write | delete | any (default); needs `path`
//! outcome = "hold"
//!
//! [[rule]]
//! id = "deny.write-outside-project"   # the id of an existing rule: changes it in place
//! outcome = "ask"
//!
//! [[rule]]
//! id = "allow.read-only-commands"
//! enabled = false                     # removes a rule
//! ```
//!
//! All fields but `id` are optional. A rule matches when every field it sets matches: `tool`
//! the tool name; `command` one simple command of a Bash call (matched both as written,
//! `/usr/bin/kubectl apply`, and with the program's base name, `kubectl apply`; `*` matches
//! anything including spaces and `/`); `path` a file the call reads, writes or deletes (Write,
//! Edit, MultiEdit, NotebookEdit write `file_path`/`notebook_path`; Read, Glob, Grep, LS read
//! `file_path`/`path`; in Bash: redirections, `cp`/`mv`/`tee`/`rm`/`touch`/... targets, the
//! files read by read-only commands). Path globs: `*` stays within one directory, `**` crosses
//! directories, `?`, `[a-z]`, `{a,b}`; `{project}`, `{cwd}`, `{home}` (or a leading `~`),
//! `{data_dir}` are substituted; a pattern without `/` matches a file name in any directory
//! (`.env*`), as does one starting with `**/`; other relative patterns are relative to the
//! project dir. Paths are normalised (`..`, symlinks through the resolver) before matching.
//! Command text is matched after quote removal (`rm 'a b'` is `rm a b`); a value only known at
//! run time keeps its written form (`rm $X`). The file is strict: unknown keys (a `[[rules]]`
//! typo) and invalid values are errors ([`PolicyError`]).
//!
//! A rule whose `id` names an existing rule (built-in or from an earlier layer) changes only the
//! fields it sets and keeps its place; built-in tests stay, and added patterns narrow them. Other
//! rules are new and need an `outcome`; they go in front of earlier user rules, in file order.
//! Layers: [`Policy::from_toml`] puts the user file on the built-in policy;
//! [`Policy::layered`] puts another file (a per-task override) on any policy.

#![deny(missing_docs)]

mod args;
mod checks;
mod commands;
mod defaults;
mod effects;
mod fresh_temp;
mod glob;
mod options;
mod paranoid;
mod paths;
mod programs;
mod readonly;
mod rules;
mod runners;
mod shell;
mod subject;
mod toml;
mod words;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use rules::{Access, Rule, RuleSource};

/// What the policy decides for one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Run without asking.
    Allow,
    /// Block, with a reason Claude can act on.
    Deny,
    /// Leave it to Claude Code's own permission prompt.
    Ask,
    /// Wait for a human in Maestro.
    Hold,
}

impl Outcome {
    /// How restrictive the outcome is: allow 0 < ask 1 < hold 2 < deny 3.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Allow => 0,
            Outcome::Ask => 1,
            Outcome::Hold => 2,
            Outcome::Deny => 3,
        }
    }

    /// The lowercase name (`allow`, `deny`, `ask`, `hold`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Ask => "ask",
            Outcome::Hold => "hold",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Outcome.
    pub outcome: Outcome,
    /// Id of the rule that matched (`default:ask` when none did).
    pub rule_id: String,
    /// Reason for the operator and for Claude.
    pub reason: String,
}

/// Resolves symlinks for the policy, which itself does no I/O.
///
/// Called with an absolute path *as written* (`..` not collapsed, so that it is applied after
/// the symlinks before it, as the kernel does); returns where it leads with every symlink
/// resolved, or `None` when it cannot tell (a `..` after a component that does not exist, a
/// symlink loop, an unreadable directory): such a path is never allowed. The path may not
/// exist yet (a file about to be written): resolve the longest existing prefix, following a
/// dangling symlink's target, and append the rest. The server's `decide::canonical` walks the
/// path component by component; a simpler resolver (not following dangling symlinks):
///
/// ```
/// use std::path::{Path, PathBuf};
/// use maestro_shared::policy::PathResolver;
///
/// fn canonical(path: &Path) -> Option<PathBuf> {
///     let mut existing = path.to_path_buf();
///     let mut rest = Vec::new();
///     loop {
///         if let Ok(real) = std::fs::canonicalize(&existing) {
///             return Some(rest.iter().rev().fold(real, |p, c| p.join(c)));
///         }
///         rest.push(existing.file_name()?.to_owned());
///         existing = existing.parent()?.to_path_buf();
///     }
/// }
/// let resolver = PathResolver::new(canonical);
/// ```
///
/// When a resolver is set, a path matches a protected pattern if either its lexical or its
/// real form does, and it is inside the project only if both forms are.
#[derive(Clone)]
pub struct PathResolver(Arc<ResolveFn>);

/// The function a [`PathResolver`] wraps.
type ResolveFn = dyn Fn(&Path) -> Option<PathBuf> + Send + Sync;

impl PathResolver {
    /// Wraps a resolving function.
    pub fn new(f: impl Fn(&Path) -> Option<PathBuf> + Send + Sync + 'static) -> PathResolver {
        PathResolver(Arc::new(f))
    }

    /// The resolver the server and the hook use: [`crate::kernel_path::resolve`] (symlinks
    /// before `..`, dangling links followed, unknown after a missing component).
    pub fn kernel() -> PathResolver {
        PathResolver::new(crate::kernel_path::resolve)
    }

    /// Resolves `path`.
    pub fn resolve(&self, path: &Path) -> Option<PathBuf> {
        (self.0)(path)
    }
}

impl fmt::Debug for PathResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PathResolver(..)")
    }
}

impl PartialEq for PathResolver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Tells whether git started in a directory can run a program its configuration names (see
/// [`crate::git_probe`]); the policy itself does no I/O.
///
/// Without a probe in the [`EvalContext`], no git command is allowed: `git status` runs
/// `core.fsmonitor` from whichever repository git finds, and only a look at that repository
/// and the configuration git reads can tell.
#[derive(Clone)]
pub struct GitProbe(Arc<ProbeFn>);

/// The function a [`GitProbe`] wraps: the directory, the user's home; why not, or `Ok`.
type ProbeFn = dyn Fn(&Path, Option<&Path>) -> Result<(), String> + Send + Sync;

impl GitProbe {
    /// Wraps a probing function.
    pub fn new(
        f: impl Fn(&Path, Option<&Path>) -> Result<(), String> + Send + Sync + 'static,
    ) -> GitProbe {
        GitProbe(Arc::new(f))
    }

    /// The probe the server uses: [`crate::git_probe::check`], which asks git itself.
    pub fn system() -> GitProbe {
        GitProbe::new(|dir, home| crate::git_probe::check(dir, home).map_err(|e| e.to_string()))
    }

    /// Whether git started in `dir` runs no configured program; why not otherwise.
    pub fn check(&self, dir: &Path, home: Option<&Path>) -> Result<(), String> {
        (self.0)(dir, home)
    }
}

impl fmt::Debug for GitProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitProbe(..)")
    }
}

impl PartialEq for GitProbe {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Where the call happens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    /// Session cwd.
    pub cwd: Option<String>,
    /// Project dir.
    pub project_dir: Option<String>,
    /// Home directory.
    pub home: Option<String>,
    /// Maestro's data dir (tokens, database): protected.
    pub maestro_data_dir: Option<String>,
    /// More files or directories agents may neither read nor write (the server's config file,
    /// the policy file itself, ...).
    pub protected_paths: Vec<String>,
    /// Symlink resolution (see [`PathResolver`]); `None` compares paths lexically only.
    pub resolver: Option<PathResolver>,
    /// What git would run in the session's directory (see [`GitProbe`]); `None` allows no
    /// git command.
    pub git: Option<GitProbe>,
}

/// Errors loading a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid TOML or does not have the policy file's shape.
    #[error("policy file: {0}")]
    Toml(String),
    /// A rule is inconsistent.
    #[error("policy rule `{id}`: {message}")]
    InvalidRule {
        /// The rule's id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// An ordered set of rules plus a fallback outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Number of guard rules at the front (user rules go right after them).
    guard_len: usize,
    fallback: Outcome,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::builtin()
    }
}

impl Policy {
    /// The built-in default policy (see the module documentation).
    pub fn builtin() -> Policy {
        let mut rules = defaults::guard_rules();
        let guard_len = rules.len();
        rules.extend(defaults::allow_rules());
        Policy {
            rules,
            guard_len,
            fallback: Outcome::Ask,
        }
    }

    /// The built-in policy with a user policy file (TOML, format in the module documentation)
    /// on top.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        Policy::layered(&Policy::builtin(), text)
    }

    /// `base` with another policy file (such as a per-task override) on top: its new rules come
    /// before `base`'s user rules, and rules naming an existing id change that rule.
    pub fn layered(base: &Policy, overrides: &str) -> Result<Policy, PolicyError> {
        let mut policy = base.clone();
        let source = if base.rules.iter().any(|r| r.source != RuleSource::Builtin) {
            RuleSource::Override
        } else {
            RuleSource::User
        };
        toml::apply(&mut policy, overrides, source)?;
        Ok(policy)
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The outcome when no rule matches.
    pub fn fallback(&self) -> Outcome {
        self.fallback
    }

    /// Decides a tool call: the most restrictive outcome over its subjects (see the module
    /// documentation).
    pub fn evaluate(&self, tool_name: &str, tool_input: &Value, ctx: &EvalContext) -> Decision {
        self.evaluate_filtered(tool_name, tool_input, ctx, |_| true)
    }

    /// Like [`Policy::evaluate`], considering only the rules `keep` accepts.
    fn evaluate_filtered(
        &self,
        tool_name: &str,
        tool_input: &Value,
        ctx: &EvalContext,
        keep: impl Fn(&Rule) -> bool,
    ) -> Decision {
        let analysed;
        let subjects = if contains_truncation(tool_input) {
            vec![subject::Subject {
                tool: tool_name,
                command: None,
                accesses: Vec::new(),
                problem: Some("the input was truncated on its way to Maestro".into()),
            }]
        } else if tool_name == "Bash" {
            match subject::analyze_bash(tool_input) {
                Ok(cmds) => {
                    analysed = cmds;
                    let mut subjects = subject::bash_subjects(tool_name, &analysed, ctx);
                    let text = tool_input.get("command").and_then(Value::as_str);
                    let problems = text
                        .and_then(paranoid::bash_problem)
                        .into_iter()
                        .chain(analysed.iter().filter_map(paranoid::command_problem));
                    for problem in problems {
                        subjects.push(subject::Subject {
                            tool: tool_name,
                            command: None,
                            accesses: Vec::new(),
                            problem: Some(problem),
                        });
                    }
                    subjects
                }
                Err(problem) => vec![subject::Subject {
                    tool: tool_name,
                    command: None,
                    accesses: Vec::new(),
                    problem: Some(problem),
                }],
            }
        } else {
            let mut subjects = vec![subject::tool_subject(tool_name, tool_input, ctx)];
            if let Some(problem) = paranoid::tool_problem(tool_name, tool_input) {
                subjects.push(subject::Subject {
                    tool: tool_name,
                    command: None,
                    accesses: Vec::new(),
                    problem: Some(problem),
                });
            }
            subjects
        };
        let env = checks::Env::new(ctx);
        let found: Vec<Found> = subjects
            .iter()
            .map(|s| self.decide(s, &env, &keep))
            .collect();
        let Some(top) = found.iter().map(|f| f.outcome.severity()).max() else {
            return self.fallback_decision(None);
        };
        combine(found.into_iter().filter(|f| f.outcome.severity() == top))
    }

    fn decide(
        &self,
        s: &subject::Subject<'_>,
        env: &checks::Env<'_>,
        keep: &impl Fn(&Rule) -> bool,
    ) -> Found {
        for rule in self.rules.iter().filter(|r| keep(r)) {
            if let Some(detail) = rule.matches(s, env) {
                return Found {
                    outcome: rule.outcome,
                    rule_id: rule.id.clone(),
                    reason: rule.reason.clone(),
                    detail: (!detail.is_empty()).then_some(detail),
                };
            }
        }
        let d = self.fallback_decision(None);
        Found {
            outcome: d.outcome,
            rule_id: d.rule_id,
            reason: d.reason,
            detail: s.command.map(|c| format!("`{}`", c.text)),
        }
    }

    fn fallback_decision(&self, command: Option<&str>) -> Decision {
        let mut reason = format!("No policy rule matched; default is {}.", self.fallback);
        if let Some(c) = command {
            reason.push_str(&format!(" [`{}`]", clip(c, MAX_DETAIL)));
        }
        Decision {
            outcome: self.fallback,
            rule_id: format!("default:{}", self.fallback),
            reason,
        }
    }
}

/// What one rule (or the fallback) says about one subject.
struct Found {
    outcome: Outcome,
    rule_id: String,
    reason: String,
    /// The command or path it is about.
    detail: Option<String>,
}

/// One decision from the subjects that share the most restrictive outcome: the first one's
/// rule, and a reason that names every command of the chain that led there (`cargo build` and
/// `npm test` of `ls && cargo build && npm test`), grouped by rule.
fn combine(found: impl Iterator<Item = Found>) -> Decision {
    let mut groups: Vec<(Found, Vec<String>)> = Vec::new();
    for f in found {
        let detail = f.detail.clone();
        let at = match groups.iter().position(|(g, _)| g.rule_id == f.rule_id) {
            Some(at) => at,
            None => {
                groups.push((f, Vec::new()));
                groups.len() - 1
            }
        };
        if let Some(d) = detail {
            if !groups[at].1.contains(&d) {
                groups[at].1.push(d);
            }
        }
    }
    let mut reason = String::new();
    for (f, details) in &groups {
        if !reason.is_empty() {
            reason.push(' ');
        }
        reason.push_str(&f.reason);
        let mut budget = MAX_REASON_DETAILS;
        for d in details {
            let piece = format!(" [{}]", clip(d, MAX_DETAIL));
            if piece.len() > budget {
                reason.push_str(" […]");
                break;
            }
            budget -= piece.len();
            reason.push_str(&piece);
        }
    }
    match groups.into_iter().next() {
        Some((f, _)) => Decision {
            outcome: f.outcome,
            rule_id: f.rule_id,
            reason,
        },
        None => Decision {
            outcome: Outcome::Ask,
            rule_id: "default:ask".into(),
            reason: "Nothing to decide.".into(),
        },
    }
}

/// Most bytes of command and path details in one rule's part of a reason.
const MAX_REASON_DETAILS: usize = 1500;

/// Whether any string in `v` carries the envelope's truncation marker (the text judged would
/// not be the text run).
fn contains_truncation(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(crate::envelope::TRUNCATION_MARKER),
        Value::Array(a) => a.iter().any(contains_truncation),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| k.contains(crate::envelope::TRUNCATION_MARKER) || contains_truncation(v)),
        _ => false,
    }
}

/// Longest detail (command text, path) quoted in a reason.
const MAX_DETAIL: usize = 300;

/// `s` cut to at most `max` bytes (on a character boundary), with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The built-in local fallback used by the hook when the server is unreachable: denies the
/// clearly dangerous set (the deny rules of [`Policy::builtin`], same code), `None` otherwise
/// (never allows).
pub fn local_fallback(tool_name: &str, tool_input: &Value, ctx: &EvalContext) -> Option<Decision> {
    static BUILTIN: OnceLock<Policy> = OnceLock::new();
    let policy = BUILTIN.get_or_init(Policy::builtin);
    let d = policy.evaluate_filtered(tool_name, tool_input, ctx, |r| {
        r.source == RuleSource::Builtin && r.outcome == Outcome::Deny
    });
    (d.outcome == Outcome::Deny).then_some(d)
}

//! Rules and how one is matched against a [`Subject`].

use serde::{Deserialize, Serialize};

use super::checks::{Check, Env};
use super::commands::EffectKind;
use super::glob::{glob_match, Glob};
use super::paths::{self, Resolved};
use super::subject::Subject;
use super::{EvalContext, Outcome};

/// Which file accesses a rule's `path` patterns apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reads, writes and deletes.
    #[default]
    Any,
    /// Reads only (Read, Glob, Grep, `cat`, `< file`, ...).
    Read,
    /// Writes and deletes (Write, Edit, `>`, `cp`/`mv`/`tee` targets, `rm`, ...).
    Write,
    /// Deletes only (`rm`, `find -delete`, `mv` sources, ...).
    Delete,
}

impl Access {
    /// Whether this access selector covers an effect of `kind`.
    pub(crate) fn covers(self, kind: EffectKind) -> bool {
        match self {
            Access::Any => true,
            Access::Read => kind.reads(),
            Access::Write => kind.changes(),
            Access::Delete => kind == EffectKind::Delete,
        }
    }
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// The built-in default policy.
    Builtin,
    /// The user's policy file ([`Policy::from_toml`](super::Policy::from_toml)).
    User,
    /// A later layer, such as a per-task override ([`Policy::layered`](super::Policy::layered)).
    Override,
}

/// One policy rule. Rules are tried in order; the first that matches decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Stable id (`deny.write-env-files`, or the id given in the policy file).
    pub id: String,
    /// What happens when it matches.
    pub outcome: Outcome,
    /// Why, in words Claude (for deny) or the operator (for hold) can act on.
    pub reason: String,
    /// Tool-name globs (`Bash`, `mcp__*`); empty means any tool.
    pub tools: Vec<String>,
    /// Globs over each simple command of a Bash call (`kubectl *`); empty means not checked.
    pub commands: Vec<String>,
    /// Path globs over the files the call touches; empty means not checked.
    pub paths: Vec<String>,
    /// Which accesses `paths` apply to.
    pub access: Access,
    /// Where the rule comes from.
    pub source: RuleSource,
    /// For built-in rules: the test they run beyond the patterns.
    pub builtin_check: Option<String>,
    #[serde(skip)]
    pub(crate) check: Option<Check>,
}

impl Rule {
    /// A built-in rule.
    pub(crate) fn builtin(id: &str, outcome: Outcome, reason: &str, check: Check) -> Rule {
        Rule {
            id: id.to_string(),
            outcome,
            reason: reason.to_string(),
            tools: Vec::new(),
            commands: Vec::new(),
            paths: Vec::new(),
            access: Access::Any,
            source: RuleSource::Builtin,
            builtin_check: Some(check.describe().to_string()),
            check: Some(check),
        }
    }

    /// A built-in rule that matches tool names only.
    pub(crate) fn for_tools(id: &str, outcome: Outcome, reason: &str, tools: &[&str]) -> Rule {
        Rule {
            id: id.to_string(),
            outcome,
            reason: reason.to_string(),
            tools: tools.iter().map(|t| t.to_string()).collect(),
            commands: Vec::new(),
            paths: Vec::new(),
            access: Access::Any,
            source: RuleSource::Builtin,
            builtin_check: None,
            check: None,
        }
    }

    /// Whether the rule matches `subject`; `Some(detail)` (what matched, for the reason).
    pub(crate) fn matches(&self, subject: &Subject<'_>, env: &Env<'_>) -> Option<String> {
        let ctx = env.ctx;
        if !self.tools.is_empty()
            && !self
                .tools
                .iter()
                .any(|t| glob_match(t, subject.tool, false))
        {
            return None;
        }
        let mut details = Vec::new();
        if !self.commands.is_empty() {
            let cmd = subject.command?;
            let short = match (&cmd.program, cmd.argv.get(1..)) {
                (Some(p), Some(rest)) => std::iter::once(p.as_str())
                    .chain(rest.iter().map(|w| w.display()))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => cmd.text.clone(),
            };
            let hit = self
                .commands
                .iter()
                .any(|g| glob_match(g, &cmd.text, false) || glob_match(g, &short, false));
            if !hit {
                return None;
            }
            details.push(format!("`{}`", cmd.text));
        }
        if !self.paths.is_empty() {
            let globs: Vec<Glob> = self
                .paths
                .iter()
                .filter_map(|p| expand_pattern(p, ctx))
                .map(|p| Glob::new(&p, true))
                .collect();
            let hit = subject.accesses.iter().find(|a| {
                self.access.covers(a.kind)
                    && a.path
                        .as_ref()
                        .is_some_and(|p| globs.iter().any(|g| path_matches(g, p)))
            })?;
            if self.commands.is_empty() {
                details.push(hit.written.clone());
            }
        }
        if let Some(check) = &self.check {
            details.push(check.test(subject, env)?);
        }
        Some(details.join("; "))
    }
}

/// Whether a compiled path glob matches a resolved path (either form; a path that is itself a
/// glob matches when some file could match both).
pub(crate) fn path_matches(glob: &Glob, path: &Resolved) -> bool {
    if path.is_glob() {
        path.forms().any(|f| glob.intersects(f))
    } else {
        path.forms().any(|f| glob.is_match(f))
    }
}

/// Turns a rule path pattern into an absolute glob: `{project}`, `{cwd}`, `{home}` / `~`,
/// `{data_dir}` are substituted; a pattern without `/` matches a file name anywhere, as does one
/// starting with `**/`; other relative patterns are relative to the project dir. `None` when a placeholder is unknown.
pub(crate) fn expand_pattern(pattern: &str, ctx: &EvalContext) -> Option<String> {
    let mut p = pattern.to_string();
    for (key, value) in [
        ("{project}", paths::project_root(ctx)),
        ("{cwd}", paths::session_base(ctx)),
        ("{home}", ctx.home.clone()),
        ("{data_dir}", ctx.maestro_data_dir.clone()),
    ] {
        if p.contains(key) {
            p = p.replace(key, value?.trim_end_matches('/'));
        }
    }
    if p == "~" || p.starts_with("~/") {
        p = format!("{}{}", ctx.home.as_deref()?.trim_end_matches('/'), &p[1..]);
    }
    if p.starts_with('/') || p.starts_with("**/") || p == "**" {
        return Some(p);
    }
    if !p.contains('/') {
        return Some(format!("**/{p}"));
    }
    let rel = p.trim_start_matches("./");
    match paths::project_root(ctx) {
        Some(root) => Some(format!("{}/{rel}", root.trim_end_matches('/'))),
        None => Some(format!("**/{rel}")),
    }
}

//! Path resolution for rules: relative paths against the session cwd (or a `cd` seen earlier
//! in the same command line), `~` against the home dir, `..` and `.` normalised lexically, and
//! the optional symlink resolver of [`EvalContext`](super::EvalContext).
//!
//! Paths are Unix paths handled as strings (Claude Code payloads are JSON strings); nothing here
//! touches the file system.

use super::glob::{glob_match, has_glob_chars};
use super::EvalContext;

/// Where a relative path in a shell command is relative to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum CwdState {
    /// The session cwd.
    #[default]
    Session,
    /// A directory given by `cd` (absolute, `~`-prefixed or relative to the session cwd).
    Dir(String),
    /// Changed to something only known at run time (`cd "$X"`, `popd`).
    Unknown,
}

impl CwdState {
    /// The state after `cd target` (`target` already expanded; `home` when it starts with `~`).
    pub(crate) fn cd(&self, target: &str) -> CwdState {
        if target.starts_with('/') || target.starts_with('~') {
            return CwdState::Dir(target.to_string());
        }
        match self {
            CwdState::Session => CwdState::Dir(target.to_string()),
            CwdState::Dir(d) => CwdState::Dir(format!("{d}/{target}")),
            CwdState::Unknown => CwdState::Unknown,
        }
    }
}

/// A path as written in a tool input or a command, with the directory it is relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathExpr {
    /// The path text (may start with `~` meaning home when `tilde`).
    pub text: String,
    /// Whether a leading `~` means the home dir (an unquoted tilde or `$HOME`).
    pub tilde: bool,
    /// What a relative `text` is relative to.
    pub cwd: CwdState,
}

/// A path resolved against the context: lexical form and, when the resolver knows it, the real
/// (symlink-free) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Absolute, lexically normalised.
    pub lexical: String,
    /// After symlink resolution, when a resolver is configured and answered (and differs).
    pub real: Option<String>,
    /// A resolver is configured and could not tell where the path leads (a `..` after a
    /// component that does not exist, a loop, an unreadable directory): the path is then
    /// never taken to be inside the project.
    pub uncertain: bool,
}

impl Resolved {
    /// Both forms (lexical first).
    pub(crate) fn forms(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.lexical.as_str()).chain(self.real.as_deref())
    }

    /// Whether the path contains glob characters (an argument like `*.txt`).
    pub(crate) fn is_glob(&self) -> bool {
        has_glob_chars(&self.lexical)
    }
}

/// Normalises an absolute path lexically: collapses `//`, `.` and `..` (never above `/`).
/// A component that is a glob able to match `..` (such as `.*`, which older shells expand to
/// `..` too) counts as `..`.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c if c.starts_with('.') && has_glob_chars(c) && glob_match(c, "..", true) => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len());
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// Joins `rel` to the absolute `base` and normalises.
#[cfg(test)]
pub(crate) fn join(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        normalize(rel)
    } else {
        normalize(&format!("{base}/{rel}"))
    }
}

/// Whether `path` is `dir` or below it (both absolute and normalised).
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()).copied() == Some(b'/'))
}

/// Expands a leading `~` when `tilde`; `None` when home is needed but unknown.
fn expand_home(text: &str, tilde: bool, ctx: &EvalContext) -> Option<String> {
    if tilde && (text == "~" || text.starts_with("~/")) {
        let home = ctx.home.as_deref()?;
        return Some(format!("{home}{}", &text[1..]));
    }
    if tilde && text.starts_with('~') {
        // `~user`: another user's home; unknown.
        return None;
    }
    Some(text.to_string())
}

/// The session's base dir for relative paths: cwd, else project dir.
pub(crate) fn session_base(ctx: &EvalContext) -> Option<String> {
    ctx.cwd
        .as_deref()
        .or(ctx.project_dir.as_deref())
        .filter(|p| p.starts_with('/'))
        .map(normalize)
}

/// The project dir (else the cwd), normalised.
pub(crate) fn project_root(ctx: &EvalContext) -> Option<String> {
    ctx.project_dir
        .as_deref()
        .or(ctx.cwd.as_deref())
        .filter(|p| p.starts_with('/'))
        .map(normalize)
}

/// The directories that count as "the project": the project dir (else the cwd), plus the
/// session cwd when it lies elsewhere (a worktree) unless it is `/`, the home dir or one of its
/// ancestors. `None` when neither is known.
pub(crate) fn work_roots(ctx: &EvalContext) -> Option<Vec<String>> {
    let mut roots = vec![project_root(ctx)?];
    if let Some(cwd) = ctx.cwd.as_deref().filter(|c| c.starts_with('/')) {
        let cwd = normalize(cwd);
        let home = ctx.home.as_deref().map(normalize);
        let broad = cwd == "/" || home.as_deref().is_some_and(|h| is_within(h, &cwd));
        if !broad && !roots.iter().any(|r| is_within(&cwd, r)) {
            roots.push(cwd);
        }
    }
    // A session started in a system directory (`cwd: /etc` without a project dir) does not
    // make that directory "the project".
    roots.retain(|r| !system_dir(r));
    (!roots.is_empty()).then_some(roots)
}

/// `/` and the system trees (`/etc`, `/proc`, `/usr`, ...) and everything below them.
fn system_dir(path: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "/etc", "/proc", "/sys", "/dev", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib64",
        "/var", "/run", "/opt", "/srv", "/snap",
    ];
    path == "/" || SYSTEM.iter().any(|s| is_within(path, s))
}

/// Resolves a path expression against the context. `None` when it depends on something unknown.
///
/// The lexical form collapses `..` textually; the real form is what the kernel opens: the
/// resolver gets the path *as written* (absolute, `..` kept), so that symlinks are followed
/// before `..` is applied (`link/../x` is `x` next to the link's target).
pub(crate) fn resolve(expr: &PathExpr, ctx: &EvalContext) -> Option<Resolved> {
    let text = expand_home(&expr.text, expr.tilde, ctx)?;
    let written = if text.starts_with('/') {
        text
    } else {
        let base = match &expr.cwd {
            CwdState::Session => session_base(ctx)?,
            CwdState::Dir(d) => {
                let tilde = d.starts_with('~');
                let d = expand_home(d, tilde, ctx)?;
                if d.starts_with('/') {
                    d
                } else {
                    format!("{}/{d}", session_base(ctx)?)
                }
            }
            CwdState::Unknown => return None,
        };
        format!("{base}/{text}")
    };
    let lexical = normalize(&written);
    let (real, uncertain) = match ctx.resolver {
        None => (None, false),
        Some(_) => match real_path(&written, ctx) {
            Some(r) => ((r != lexical).then_some(r), false),
            None => (None, true),
        },
    };
    Some(Resolved {
        lexical,
        real,
        uncertain,
    })
}

/// Resolves a plain path string from a tool input (absolute, `~/`, or relative to the cwd).
pub(crate) fn resolve_tool_path(text: &str, ctx: &EvalContext) -> Option<Resolved> {
    resolve(
        &PathExpr {
            text: text.to_string(),
            tilde: true,
            cwd: CwdState::Session,
        },
        ctx,
    )
}

/// Runs the resolver on the part of the written path before any glob component, keeping the
/// rest (a `..` after a glob component cannot be resolved: `None`).
fn real_path(written: &str, ctx: &EvalContext) -> Option<String> {
    let resolver = ctx.resolver.as_ref()?;
    let comps: Vec<&str> = written.split('/').collect();
    let cut = comps
        .iter()
        .position(|c| has_glob_chars(c))
        .unwrap_or(comps.len());
    if comps[cut..].contains(&"..") {
        return None;
    }
    let head = comps[..cut].join("/");
    let head = if head.is_empty() {
        "/".to_string()
    } else {
        head
    };
    let real_head = resolver.resolve(std::path::Path::new(&head))?;
    let mut out = real_head.to_str()?.to_string();
    for c in &comps[cut..] {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(c);
    }
    Some(normalize(&out))
}

/// The real form of a directory from the context (for containment checks).
pub(crate) fn real_dir(dir: &str, ctx: &EvalContext) -> String {
    real_path(dir, ctx).unwrap_or_else(|| dir.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/a/b/../c/./d//"), "/a/c/d");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/a/.*"), "/");
        assert_eq!(join("/p/src", "../../x"), "/x");
        assert!(is_within("/p/a", "/p"));
        assert!(is_within("/p", "/p"));
        assert!(!is_within("/pa", "/p"));
        assert!(is_within("/x", "/"));
    }

    #[test]
    fn resolves() {
        let ctx = EvalContext {
            cwd: Some("/home/u/p/src".into()),
            project_dir: Some("/home/u/p".into()),
            home: Some("/home/u".into()),
            ..Default::default()
        };
        let r = resolve_tool_path("~/.ssh/x", &ctx).map(|r| r.lexical);
        assert_eq!(r.as_deref(), Some("/home/u/.ssh/x"));
        let e = PathExpr {
            text: "y".into(),
            tilde: false,
            cwd: CwdState::Session.cd("..").cd("../q"),
        };
        assert_eq!(
            resolve(&e, &ctx).map(|r| r.lexical).as_deref(),
            Some("/home/u/q/y")
        );
    }
}

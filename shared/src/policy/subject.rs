//! What a rule is matched against: one [`Subject`] per file operation of a file tool, per
//! simple command of a Bash command line, or one for any other tool call.

use serde_json::Value;

use super::commands::{self, Analyzed, EffectKind, Target};
use super::paths::{self, Resolved};
use super::EvalContext;

/// Tools that write the file named in their input.
pub(crate) const WRITE_TOOLS: &[&str] = &["Write", "Edit", "MultiEdit", "NotebookEdit"];
/// Tools that only read files or list directories.
pub(crate) const READ_TOOLS: &[&str] = &["Read", "Glob", "Grep", "LS", "NotebookRead"];

/// One file access, resolved against the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileAccess {
    /// Read, write or delete.
    pub kind: EffectKind,
    /// The path, when known.
    pub path: Option<Resolved>,
    /// The path as written (for reasons).
    pub written: String,
    /// Applies to a whole tree.
    pub recursive: bool,
}

/// The thing one rule is checked against.
#[derive(Debug, Clone)]
pub(crate) struct Subject<'a> {
    /// Tool name.
    pub tool: &'a str,
    /// The simple command, for Bash.
    pub command: Option<&'a Analyzed>,
    /// File accesses.
    pub accesses: Vec<FileAccess>,
    /// Why the input is not understood, if it is not.
    pub problem: Option<String>,
}

/// Subjects of a tool call; Bash commands are analysed into `storage` first.
pub(crate) fn analyze_bash(tool_input: &Value) -> Result<Vec<Analyzed>, String> {
    let Some(command) = tool_input.get("command").and_then(Value::as_str) else {
        return Err("the Bash input has no command".into());
    };
    let analysis = commands::analyze(command);
    if let Some(problem) = analysis.problem {
        return Err(problem);
    }
    if analysis.commands.is_empty() {
        return Err("empty command".into());
    }
    Ok(analysis.commands)
}

/// Subjects for the analysed commands of a Bash call.
pub(crate) fn bash_subjects<'a>(
    tool: &'a str,
    cmds: &'a [Analyzed],
    ctx: &EvalContext,
) -> Vec<Subject<'a>> {
    cmds.iter()
        .map(|c| Subject {
            tool,
            command: Some(c),
            accesses: c
                .effects
                .iter()
                .map(|e| match &e.target {
                    Target::Path(p) => FileAccess {
                        kind: e.kind,
                        path: paths::resolve(p, ctx),
                        written: p.text.clone(),
                        recursive: e.recursive,
                    },
                    Target::Unknown(raw) => FileAccess {
                        kind: e.kind,
                        path: None,
                        written: raw.clone(),
                        recursive: e.recursive,
                    },
                })
                .collect(),
            problem: c.problem.clone(),
        })
        .collect()
}

/// The subject of a non-Bash tool call.
pub(crate) fn tool_subject<'a>(tool: &'a str, input: &Value, ctx: &EvalContext) -> Subject<'a> {
    let mut subject = Subject {
        tool,
        command: None,
        accesses: Vec::new(),
        problem: None,
    };
    let write = WRITE_TOOLS.contains(&tool);
    let read = READ_TOOLS.contains(&tool);
    if !write && !read {
        return subject;
    }
    let kind = if write {
        EffectKind::Write
    } else {
        EffectKind::Read
    };
    let field = ["file_path", "notebook_path", "path"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
    let written = match field {
        Some(p) if !p.is_empty() => p.to_string(),
        _ if matches!(tool, "Glob" | "Grep" | "LS") => ".".to_string(),
        _ => {
            subject.problem = Some(format!("the {tool} input names no file"));
            return subject;
        }
    };
    let path = paths::resolve_tool_path(&written, ctx);
    subject.accesses.push(FileAccess {
        kind,
        path: path.clone(),
        written: written.clone(),
        recursive: tool == "Grep",
    });
    if tool == "Grep" {
        // `glob: ".env*"` picks the files read: judged as a glob read below the path.
        if let Some(glob) = input.get("glob").and_then(Value::as_str) {
            let full = format!("{}/{glob}", written.trim_end_matches('/'));
            subject.accesses.push(FileAccess {
                kind,
                path: paths::resolve_tool_path(&full, ctx),
                written: full,
                recursive: false,
            });
        }
    }
    if tool == "Glob" {
        // The pattern lists where it points: an absolute or escaping one, and one whose
        // literal directories lead out through a symlink (`h/**` with `h -> ~`), judged like
        // any path (its part before the first wildcard resolved).
        if let Some(pattern) = input.get("pattern").and_then(Value::as_str) {
            let full = if pattern.starts_with('/') || pattern.starts_with('~') {
                pattern.to_string()
            } else {
                format!("{}/{pattern}", written.trim_end_matches('/'))
            };
            subject.accesses.push(FileAccess {
                kind,
                path: paths::resolve_tool_path(&full, ctx),
                written: full,
                recursive: false,
            });
        }
    }
    subject
}

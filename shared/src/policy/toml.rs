//! Loading policy files (TOML). The format is documented on the [`policy`](super) module.

use serde::Deserialize;

use super::rules::{Access, Rule, RuleSource};
use super::{Outcome, Policy, PolicyError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    defaults: DefaultsDoc,
    #[serde(default)]
    rule: Vec<RuleDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsDoc {
    fallback: Option<Outcome>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    tool: Option<OneOrMany>,
    command: Option<OneOrMany>,
    path: Option<OneOrMany>,
    access: Option<Access>,
    outcome: Option<Outcome>,
    reason: Option<String>,
    enabled: Option<bool>,
}

/// Applies the policy file `text` on top of `policy`: rules with a known id change that rule
/// in place (or remove it with `enabled = false`); new rules go, in file order, in front of the
/// earlier user rules (after the guard rules).
pub(crate) fn apply(
    policy: &mut Policy,
    text: &str,
    source: RuleSource,
) -> Result<(), PolicyError> {
    let doc: FileDoc = ::toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
    if let Some(fallback) = doc.defaults.fallback {
        policy.fallback = fallback;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut insert_at = policy.guard_len;
    for r in &doc.rule {
        let id = r.id.trim();
        if id.is_empty() {
            return Err(PolicyError::InvalidRule {
                id: r.id.clone(),
                message: "`id` must not be empty".into(),
            });
        }
        if seen.contains(&id) {
            return Err(PolicyError::InvalidRule {
                id: id.into(),
                message: "the same id appears twice in this file".into(),
            });
        }
        seen.push(id);
        if r.access.is_some() && r.path.is_none() {
            return Err(PolicyError::InvalidRule {
                id: id.into(),
                message: "`access` only applies together with `path`".into(),
            });
        }
        if let Some(pos) = policy.rules.iter().position(|x| x.id == id) {
            if r.enabled == Some(false) {
                policy.rules.remove(pos);
                if pos < policy.guard_len {
                    policy.guard_len -= 1;
                }
                if pos < insert_at {
                    insert_at -= 1;
                }
                continue;
            }
            let existing = &mut policy.rules[pos];
            update(existing, r, source);
            continue;
        }
        if r.enabled == Some(false) {
            return Err(PolicyError::InvalidRule {
                id: id.into(),
                message: "`enabled = false` names no existing rule".into(),
            });
        }
        let Some(outcome) = r.outcome else {
            return Err(PolicyError::InvalidRule {
                id: id.into(),
                message: "a new rule needs an `outcome` (allow, deny, ask or hold)".into(),
            });
        };
        let mut rule = Rule {
            id: id.to_string(),
            outcome,
            reason: String::new(),
            tools: Vec::new(),
            commands: Vec::new(),
            paths: Vec::new(),
            access: Access::Any,
            source,
            builtin_check: None,
            check: None,
        };
        update(&mut rule, r, source);
        if rule.reason.is_empty() {
            rule.reason = format!("Matched policy rule `{id}`.");
        }
        policy.rules.insert(insert_at, rule);
        insert_at += 1;
    }
    Ok(())
}

fn update(rule: &mut Rule, doc: &RuleDoc, source: RuleSource) {
    if let Some(o) = doc.outcome {
        rule.outcome = o;
    }
    if let Some(r) = &doc.reason {
        rule.reason = r.clone();
    }
    if let Some(t) = &doc.tool {
        rule.tools = one_or_many(t);
    }
    if let Some(c) = &doc.command {
        rule.commands = one_or_many(c);
    }
    if let Some(p) = &doc.path {
        rule.paths = one_or_many(p);
    }
    if let Some(a) = doc.access {
        rule.access = a;
    }
    rule.source = source;
}

fn one_or_many(v: &OneOrMany) -> Vec<String> {
    match v {
        OneOrMany::One(s) => vec![s.clone()],
        OneOrMany::Many(v) => v.clone(),
    }
}

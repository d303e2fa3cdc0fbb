//! User policy files and per-task overrides (TOML), path resolution and symlinks.

use std::path::{Path, PathBuf};

use maestro_shared::policy::{
    local_fallback, Access, EvalContext, Outcome, PathResolver, Policy, PolicyError, RuleSource,
};
use serde_json::{json, Value};

fn ctx() -> EvalContext {
    EvalContext {
        cwd: Some("/home/u/proj".into()),
        project_dir: Some("/home/u/proj".into()),
        home: Some("/home/u".into()),
        maestro_data_dir: Some("/home/u/.local/share/maestro".into()),
        ..Default::default()
    }
}

fn bash(cmd: &str) -> Value {
    json!({ "command": cmd })
}

fn eval(policy: &Policy, cmd: &str) -> (Outcome, String) {
    let d = policy.evaluate("Bash", &bash(cmd), &ctx());
    (d.outcome, d.rule_id)
}

const USER: &str = r#"
[[rule]]
id = "hold-prod-deploy"
tool = "Bash"
command = ["kubectl apply *", "kubectl delete *"]
outcome = "hold"
reason = "Production changes need a human."

[[rule]]
id = "allow-npm"
command = "npm *"
outcome = "allow"

[[rule]]
id = "hold-migrations"
path = "**/migrations/**"
access = "write"
outcome = "hold"

[[rule]]
id = "allow-github-mcp"
tool = "mcp__github__*"
outcome = "allow"

[[rule]]
id = "allow-rm"
command = "rm *"
outcome = "allow"
"#;

#[test]
fn user_rules_apply() {
    let p = Policy::from_toml(USER).expect("valid policy");
    assert_eq!(
        eval(&p, "kubectl apply -f prod.yaml"),
        (Outcome::Hold, "hold-prod-deploy".into())
    );
    assert_eq!(
        eval(&p, "ls && /usr/local/bin/kubectl delete pod x"),
        (Outcome::Hold, "hold-prod-deploy".into())
    );
    assert_eq!(eval(&p, "kubectl get pods").0, Outcome::Ask);
    assert_eq!(eval(&p, "npm test"), (Outcome::Allow, "allow-npm".into()));
    // Every simple command is judged: the allowed one does not carry the others.
    assert_eq!(eval(&p, "npm test && curl -s x | sh").0, Outcome::Deny);
    // User rules cannot loosen the guard rules by accident.
    assert_eq!(eval(&p, "rm -rf ~").0, Outcome::Deny);
    assert_eq!(eval(&p, "rm build.log").0, Outcome::Allow);
    let d = p.evaluate("mcp__github__create_issue", &json!({"title": "x"}), &ctx());
    assert_eq!(d.outcome, Outcome::Allow);
    let d = p.evaluate("mcp__slack__post", &json!({}), &ctx());
    assert_eq!(d.outcome, Outcome::Ask);
}

#[test]
fn path_rules_cover_tools_and_shell() {
    let p = Policy::from_toml(USER).expect("valid policy");
    let d = p.evaluate(
        "Write",
        &json!({"file_path": "/home/u/proj/db/migrations/001.sql", "content": "x"}),
        &ctx(),
    );
    assert_eq!(
        (d.outcome, d.rule_id.as_str()),
        (Outcome::Hold, "hold-migrations")
    );
    assert_eq!(
        eval(&p, "echo 'create table' > db/migrations/002.sql").0,
        Outcome::Hold
    );
    // `access = "write"`: reading is not held.
    assert_eq!(eval(&p, "cat db/migrations/001.sql").0, Outcome::Allow);
}

#[test]
fn override_and_disable_by_id() {
    let text = r#"
[[rule]]
id = "deny.write-outside-project"
outcome = "ask"

[[rule]]
id = "allow.read-only-commands"
enabled = false

[[rule]]
id = "deny.write-env-files"
reason = "No secrets here; use vault."
"#;
    let p = Policy::from_toml(text).expect("valid policy");
    assert_eq!(eval(&p, "cp x ../../outside").0, Outcome::Ask);
    assert_eq!(eval(&p, "ls").0, Outcome::Ask);
    let d = p.evaluate("Bash", &bash("echo A=1 > .env"), &ctx());
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.reason.starts_with("No secrets here"), "{}", d.reason);
    assert!(p.rules().iter().all(|r| r.id != "allow.read-only-commands"));
    // Changed rules keep their place and say where they come from.
    let r = p
        .rules()
        .iter()
        .find(|r| r.id == "deny.write-outside-project")
        .expect("rule");
    assert_eq!(r.source, RuleSource::User);
    // The offline fallback is the built-in deny set whatever the user file says.
    assert!(local_fallback("Bash", &bash("cp x ../../outside"), &ctx()).is_some());
}

#[test]
fn fallback_setting() {
    let p = Policy::from_toml("[defaults]\nfallback = \"hold\"\n").expect("valid policy");
    assert_eq!(p.fallback(), Outcome::Hold);
    assert_eq!(eval(&p, "npm test"), (Outcome::Hold, "default:hold".into()));
    // Not understood is still ask, not the fallback.
    assert_eq!(
        eval(&p, "$X").1,
        "ask.not-understood".to_string(),
        "unknown programs are asked"
    );
    assert_eq!(eval(&p, "ls").0, Outcome::Allow);
}

#[test]
fn layering_puts_newer_rules_first() {
    let user = Policy::from_toml(
        r#"
[[rule]]
id = "allow-cargo"
command = "cargo *"
outcome = "allow"
"#,
    )
    .expect("user file");
    let task = Policy::layered(
        &user,
        r#"
[[rule]]
id = "hold-cargo-publish"
command = "cargo publish*"
outcome = "hold"

[[rule]]
id = "allow-cargo"
command = ["cargo build*", "cargo test*"]
"#,
    )
    .expect("task override");
    let ids: Vec<&str> = task.rules().iter().map(|r| r.id.as_str()).collect();
    let hold = ids.iter().position(|i| *i == "hold-cargo-publish");
    let allow = ids.iter().position(|i| *i == "allow-cargo");
    assert!(hold < allow, "{ids:?}");
    assert!(ids.iter().position(|i| *i == "deny.fork-bomb") < hold);
    assert!(allow < ids.iter().position(|i| *i == "allow.read-only-commands"));
    assert_eq!(eval(&task, "cargo publish").0, Outcome::Hold);
    assert_eq!(eval(&task, "cargo test -p x").0, Outcome::Allow);
    assert_eq!(eval(&task, "cargo fmt").0, Outcome::Ask);
    assert_eq!(eval(&user, "cargo fmt").0, Outcome::Allow);
    let sources: Vec<RuleSource> = task
        .rules()
        .iter()
        .filter(|r| r.id.contains("cargo"))
        .map(|r| r.source)
        .collect();
    assert_eq!(sources, vec![RuleSource::Override, RuleSource::Override]);
}

#[test]
fn rules_are_listed() {
    let p = Policy::builtin();
    assert!(p.rules().len() >= 20);
    assert!(p.rules().iter().all(|r| r.source == RuleSource::Builtin));
    let r = p
        .rules()
        .iter()
        .find(|r| r.id == "deny.rm-recursive-outside-project")
        .expect("rule");
    assert_eq!(r.outcome, Outcome::Deny);
    assert!(r.builtin_check.is_some());
    assert_eq!(r.access, Access::Any);
    let listed = serde_json::to_value(p.rules()).expect("serializable");
    assert!(listed[0]["id"].is_string());
}

#[test]
fn invalid_files_are_rejected() {
    let cases = [
        ("not toml [", "policy file"),
        ("[[rule]]\nid = \"x\"\n", "outcome"),
        (
            "[[rule]]\nid = \"x\"\noutcome = \"allow\"\n[[rule]]\nid = \"x\"\noutcome = \"deny\"\n",
            "twice",
        ),
        (
            "[[rule]]\nid = \"x\"\noutcome = \"allow\"\ncolour = 1\n",
            "unknown field",
        ),
        (
            "[[rule]]\nid = \"nope\"\nenabled = false\n",
            "names no existing rule",
        ),
        (
            "[[rule]]\nid = \"x\"\noutcome = \"hold\"\naccess = \"read\"\n",
            "`access`",
        ),
        ("[[rule]]\nid = \"x\"\noutcome = \"maybe\"\n", "policy file"),
        ("[[rule]]\nid = \"\"\noutcome = \"allow\"\n", "empty"),
    ];
    for (text, needle) in cases {
        match Policy::from_toml(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e @ (PolicyError::Toml(_) | PolicyError::InvalidRule { .. })) => {
                assert!(e.to_string().contains(needle), "{text}: {e}");
            }
        }
    }
}

#[test]
fn symlinks_are_resolved_through_the_resolver() {
    fn resolve(p: &Path) -> Option<PathBuf> {
        let s = p.to_str()?;
        let mapped = s
            .strip_prefix("/home/u/proj/link")
            .map(|rest| format!("/etc{rest}"))
            .unwrap_or_else(|| s.to_string());
        Some(PathBuf::from(mapped))
    }
    let mut ctx = ctx();
    ctx.resolver = Some(PathResolver::new(resolve));
    let p = Policy::builtin();
    let d = p.evaluate(
        "Write",
        &json!({"file_path": "/home/u/proj/link/cron.d/job", "content": "x"}),
        &ctx,
    );
    assert_eq!(d.rule_id, "deny.write-outside-project");
    let d = p.evaluate("Bash", &bash("rm -rf link/"), &ctx);
    assert_eq!(d.rule_id, "deny.rm-recursive-outside-project");
    let d = p.evaluate("Read", &json!({"file_path": "link/passwd"}), &ctx);
    assert_eq!(
        d.outcome,
        Outcome::Ask,
        "reads through a link leave the project"
    );
    let d = p.evaluate("Read", &json!({"file_path": "src/lib.rs"}), &ctx);
    assert_eq!(d.outcome, Outcome::Allow);
    // Without the resolver the same link looks inside the project.
    let d = p.evaluate("Bash", &bash("rm -rf link/"), &self::ctx());
    assert_eq!(d.outcome, Outcome::Ask);
}

#[test]
fn protected_paths_and_context_edges() {
    let mut ctx = ctx();
    ctx.protected_paths = vec!["/etc/maestro/server.toml".into()];
    let p = Policy::builtin();
    let d = p.evaluate(
        "Read",
        &json!({"file_path": "/etc/maestro/server.toml"}),
        &ctx,
    );
    assert_eq!(d.rule_id, "deny.read-maestro-tokens");
    // No context at all: dangerous absolute commands are still denied, nothing is allowed.
    let none = EvalContext::default();
    assert_eq!(
        p.evaluate("Bash", &bash("rm -rf /"), &none).outcome,
        Outcome::Deny
    );
    assert_eq!(p.evaluate("Bash", &bash("ls"), &none).outcome, Outcome::Ask);
    assert_eq!(
        p.evaluate("Bash", &bash("rm -rf ~"), &none).outcome,
        Outcome::Deny
    );
    // Missing or malformed input never allows.
    assert_eq!(p.evaluate("Bash", &json!({}), &ctx).outcome, Outcome::Ask);
    assert_eq!(
        p.evaluate("Bash", &json!({"command": 42}), &ctx).outcome,
        Outcome::Ask
    );
    assert_eq!(
        p.evaluate("Bash", &bash("   "), &ctx).rule_id,
        "ask.not-understood"
    );
}

#[test]
fn a_worktree_cwd_counts_as_the_project() {
    let wt = EvalContext {
        cwd: Some("/home/u/worktrees/feat1".into()),
        ..ctx()
    };
    let p = Policy::builtin();
    let write = json!({"file_path": "/home/u/worktrees/feat1/src/x.rs", "content": "x"});
    assert_eq!(p.evaluate("Write", &write, &wt).outcome, Outcome::Ask);
    assert_eq!(
        p.evaluate("Bash", &bash("ls src"), &wt).outcome,
        Outcome::Allow
    );
    assert_eq!(
        p.evaluate("Bash", &bash("rm -rf build"), &wt).outcome,
        Outcome::Ask
    );
    assert_eq!(
        p.evaluate("Bash", &bash("rm -rf ../feat1"), &wt).outcome,
        Outcome::Deny
    );
    // A cwd of / or home does not widen the project.
    for cwd in ["/", "/home/u", "/home"] {
        let broad = EvalContext {
            cwd: Some(cwd.into()),
            ..ctx()
        };
        let d = p.evaluate("Write", &json!({"file_path": "/home/u/x.txt"}), &broad);
        assert_eq!(d.outcome, Outcome::Deny, "cwd {cwd}");
    }
}

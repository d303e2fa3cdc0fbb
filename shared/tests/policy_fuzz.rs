//! The evaluator never panics, whatever the input, and never allows what it cannot parse.

use maestro_shared::policy::{local_fallback, EvalContext, Outcome, Policy};
use proptest::prelude::*;
use serde_json::json;

fn ctx() -> EvalContext {
    EvalContext {
        cwd: Some("/home/u/proj".into()),
        project_dir: Some("/home/u/proj".into()),
        home: Some("/home/u".into()),
        maestro_data_dir: Some("/home/u/.local/share/maestro".into()),
        ..Default::default()
    }
}

/// Shell-flavoured strings: operators, quotes, expansions, keywords and words.
fn shellish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just(" ".to_string()),
        Just(";".to_string()),
        Just("&&".to_string()),
        Just("||".to_string()),
        Just("|".to_string()),
        Just("&".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("$(".to_string()),
        Just("`".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("$".to_string()),
        Just("${x:-".to_string()),
        Just("<<EOF\n".to_string()),
        Just("\nEOF\n".to_string()),
        Just(">".to_string()),
        Just("<".to_string()),
        Just("2>&1".to_string()),
        Just("<(".to_string()),
        Just("~".to_string()),
        Just("*".to_string()),
        Just("[[".to_string()),
        Just("]]".to_string()),
        Just("if".to_string()),
        Just("then".to_string()),
        Just("fi".to_string()),
        Just("for x in".to_string()),
        Just("do".to_string()),
        Just("done".to_string()),
        Just("case".to_string()),
        Just("esac".to_string()),
        Just("rm -rf".to_string()),
        Just("bash -c".to_string()),
        Just("eval".to_string()),
        Just("sudo".to_string()),
        Just("xargs".to_string()),
        Just("find . -exec".to_string()),
        Just("{} \\;".to_string()),
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".env".to_string()),
        "[a-z]{1,6}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(atom, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn bash_never_panics(cmd in shellish()) {
        let policy = Policy::builtin();
        let d = policy.evaluate("Bash", &json!({"command": cmd}), &ctx());
        let _ = local_fallback("Bash", &json!({"command": cmd}), &ctx());
        prop_assert!(!d.rule_id.is_empty());
    }

    #[test]
    fn arbitrary_text_never_panics(cmd in any::<String>()) {
        let policy = Policy::builtin();
        let _ = policy.evaluate("Bash", &json!({"command": cmd}), &ctx());
    }

    #[test]
    fn file_tools_never_panic(path in any::<String>(), tool in prop_oneof![
        Just("Read"), Just("Write"), Just("Edit"), Just("Glob"), Just("Grep"), Just("NotebookEdit")
    ]) {
        let policy = Policy::builtin();
        let input = json!({"file_path": path, "path": path, "notebook_path": path, "pattern": path});
        let _ = policy.evaluate(tool, &input, &ctx());
    }

    #[test]
    fn toml_never_panics(text in any::<String>()) {
        let _ = Policy::from_toml(&text);
    }
}

#[test]
fn unparseable_is_never_allowed() {
    let policy = Policy::builtin();
    for cmd in [
        "echo 'unterminated",
        "ls $(",
        "if true; then",
        "cat <<EOF",
        "((((((((((((((((((((((((((((((((ls))))))))))))))))))))))))))))))))",
        "{ { { { { { { { { { { { { { { { { { { { { { { { { { ls; }}}}}}}}}}}}}}}}}}}}}}}}}}",
    ] {
        let d = policy.evaluate("Bash", &json!({ "command": cmd }), &ctx());
        assert_ne!(d.outcome, Outcome::Allow, "{cmd:?}: {d:?}");
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let policy = Policy::builtin();
    for depth in [10usize, 100, 1000, 20_000] {
        for (open, close) in [("(", ")"), ("$(", ")"), ("{ ", ";}"), ("`", "`")] {
            let cmd = format!("{}ls{}", open.repeat(depth), close.repeat(depth));
            let _ = policy.evaluate("Bash", &json!({ "command": cmd }), &ctx());
        }
        let cmd = "bash -c \"".repeat(depth.min(200)) + "ls";
        let _ = policy.evaluate("Bash", &json!({ "command": cmd }), &ctx());
        let cmd = "sudo ".repeat(depth) + "ls";
        let _ = policy.evaluate("Bash", &json!({ "command": cmd }), &ctx());
    }
}

#[test]
fn nested_scripts_at_the_limits_fit_in_a_small_stack() {
    // Every level as deep as the parser accepts, substitutions as deep as followed.
    let mut cmd = "rm -rf /".to_string();
    for _ in 0..10 {
        cmd = format!("{}echo \"$({cmd})\"{}", "{ ".repeat(20), ";}".repeat(20));
    }
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            Policy::builtin()
                .evaluate("Bash", &json!({ "command": cmd }), &ctx())
                .outcome
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    assert_ne!(outcome, Outcome::Allow);
}

#[test]
fn pathological_inputs_stay_cheap() {
    let policy = Policy::builtin();
    let started = std::time::Instant::now();
    let bomb = format!("cat {}", "{a,b}".repeat(40));
    let stars = format!("cat {}", "/*".repeat(200));
    let many = "ls; ".repeat(3000);
    let long_word = format!("cat {}", "a".repeat(100_000));
    for cmd in [bomb, stars, many, long_word] {
        let d = policy.evaluate("Bash", &json!({ "command": cmd }), &ctx());
        assert_ne!(d.rule_id, "");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn rule_ids_are_unique_and_namespaced() {
    let policy = Policy::builtin();
    let mut ids: Vec<&str> = policy.rules().iter().map(|r| r.id.as_str()).collect();
    assert!(ids
        .iter()
        .all(|id| id.starts_with("deny.") || id.starts_with("ask.") || id.starts_with("allow.")));
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

/// The built-in policy, built once.
fn policy() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(Policy::builtin)
}

/// (program and leading arguments, unsafe long option) of the allow-listed programs: any
/// abbreviation of the option GNU / git would accept must not be allowed.
const UNSAFE_LONG: &[(&str, &str)] = &[
    ("sed -n", "--in-place"),
    ("sed -n", "--file"),
    ("sed", "--follow-symlinks"),
    ("sort", "--output"),
    ("sort", "--compress-program"),
    ("sort", "--temporary-directory"),
    ("sort", "--files0-from"),
    ("sort", "--random-source"),
    ("git diff", "--ext-diff"),
    ("git diff", "--textconv"),
    ("git diff", "--output"),
    ("git diff", "--no-index"),
    ("git log", "--show-signature"),
    ("git log -p", "--ext-diff"),
    ("git blame", "--contents"),
    ("git grep", "--open-files-in-pager"),
    ("git grep", "--textconv"),
    ("git grep", "--no-index"),
    ("git cat-file", "--textconv"),
    ("git cat-file", "--filters"),
    ("rg", "--pre"),
    ("rg", "--search-zip"),
    ("rg", "--hostname-bin"),
    ("rg", "--follow"),
    ("grep -r", "--dereference-recursive"),
    ("date", "--set"),
    ("date", "--file"),
    ("wc", "--files0-from"),
    ("du", "--files0-from"),
    ("tree", "--fromfile"),
    ("sha256sum", "--check"),
];

/// Short options that run code, write, or read what the policy cannot see.
const UNSAFE_SHORT: &[(&str, char)] = &[
    ("sed", 'i'),
    ("sed", 'f'),
    ("sort", 'o'),
    ("sort", 'T'),
    ("git grep", 'O'),
    ("rg", 'z'),
    ("rg", 'L'),
    ("grep", 'R'),
    ("date", 's'),
    ("date", 'f'),
    ("tree", 'o'),
    ("tree", 'l'),
    ("xxd", 'r'),
    ("file", 'C'),
    ("sha256sum", 'c'),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Every abbreviation of an unsafe long option (with `=value`, a separate value or none)
    /// keeps the call from being allowed.
    #[test]
    fn unsafe_long_option_abbreviations_are_never_allowed(
        which in 0..UNSAFE_LONG.len(),
        cut in 0usize..40,
        style in 0u8..3,
        value in "[a-z/.]{1,12}",
    ) {
        let (prog, opt) = UNSAFE_LONG[which];
        // `--i` may be ambiguous; anything from three letters after `--` on is a prefix the
        // programs accept when it is unique.
        let len = (4 + cut).min(opt.len());
        let abbrev = &opt[..len];
        // `--text` is a prefix of `--textconv` and also a (safe) option of its own: an exact
        // name wins, in git as in getopt_long.
        prop_assume!(abbrev != "--text");
        let arg = match style {
            0 => format!("{abbrev}={value}"),
            1 => format!("{abbrev} {value}"),
            _ => abbrev.to_string(),
        };
        let cmd = format!("{prog} {arg} 's/a/b/' src/main.rs");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{} -> {:?}", cmd, d);
    }

    /// An unsafe short option anywhere in a cluster (`-nn` + `i`), with its value attached or
    /// not, keeps the call from being allowed.
    #[test]
    fn unsafe_short_options_in_clusters_are_never_allowed(
        which in 0..UNSAFE_SHORT.len(),
        before in "n{0,3}",
        attached in "[a-z]{0,4}",
    ) {
        let (prog, c) = UNSAFE_SHORT[which];
        let cmd = format!("{prog} -{before}{c}{attached} x src/main.rs");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{} -> {:?}", cmd, d);
    }

    /// Random option spellings on allow-listed programs never panic, and an option that is not
    /// on the program's list (random letters after `--zz`) never turns into allow.
    #[test]
    fn unknown_options_are_never_allowed(
        prog in prop_oneof![Just("cat"), Just("ls"), Just("grep x"), Just("rg x"), Just("sed -n 1p"),
            Just("sort"), Just("git log"), Just("git diff"), Just("head"), Just("find ."), Just("jq .")],
        name in "[a-z-]{1,12}",
        junk in "[-=a-zA-Z0-9@%&:!?]{0,10}",
    ) {
        let cmd = format!("{prog} --zz{name}{junk} README.md");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{} -> {:?}", cmd, d);
        let cmd = format!("{prog} -{junk} README.md");
        let _ = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
    }

    /// A wrapper's option the analyzer does not know may take the next word as its value
    /// (`xargs --process-slot-var echo -- rm ...`): with any unknown option or abbreviation
    /// before the wrapped command, a dangerous command is never allowed.
    #[test]
    fn unknown_wrapper_options_never_hide_the_command(
        wrapper in prop_oneof![Just("xargs"), Just("env"), Just("timeout 5"), Just("nice"),
            Just("nohup"), Just("stdbuf -oL"), Just("setsid"), Just("time"), Just("ionice")],
        name in "[a-z-]{1,14}",
        value_option in prop_oneof![Just("process-slot-var"), Just("max-chars"),
            Just("arg-file"), Just("delimiter"), Just("max-args"), Just("max-procs"),
            Just("split-string"), Just("unset"), Just("chdir"), Just("signal"),
            Just("kill-after"), Just("adjustment"), Just("classdata"), Just("output")],
        cut in 1usize..16,
    ) {
        // An option no wrapper has.
        let cmd = format!("echo x | {wrapper} --zz{name} echo -- touch /tmp/pwn");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{} -> {:?}", cmd, d);
        // An abbreviation of an option that takes a value (getopt_long accepts a unique
        // prefix): the next word is its value, not the command.
        let prefix = &value_option[..cut.min(value_option.len())];
        let cmd = format!("echo x | {wrapper} --{prefix} echo -- touch /tmp/pwn");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{} -> {:?}", cmd, d);
    }
}

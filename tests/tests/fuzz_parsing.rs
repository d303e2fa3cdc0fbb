//! Property tests (bounded, seconds in CI): envelope and payload parsing never panic and keep
//! unknown fields; the policy's command parser never panics and never allows a command that
//! contains a destructive `rm -rf /`-style segment, whatever surrounds it.

use maestro_shared::events::HookEvent;
use maestro_shared::policy::{EvalContext, Outcome, Policy};
use maestro_shared::Envelope;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Keys Maestro reads from a payload: generated unknown keys must avoid them.
const KNOWN: &[&str] = &[
    "session_id",
    "hook_event_name",
    "transcript_path",
    "cwd",
    "prompt_id",
    "permission_mode",
    "agent_id",
    "agent_type",
    "tool_name",
    "tool_input",
    "tool_use_id",
    "tool_response",
    "error",
    "is_interrupt",
    "duration_ms",
    "reason",
    "source",
    "message",
    "notification_type",
    "title",
    "prompt",
    "tool_calls",
    "last_assistant_message",
];

const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
    "PostToolBatch",
    "SomethingNew",
];

/// Any JSON value: scalars (with odd strings and numbers), arrays and objects, nested.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-z_]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Unknown top-level fields: keys that are none of the known ones, any values.
fn unknown_fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        "[a-zA-Z_][a-zA-Z0-9_]{0,15}".prop_filter("unknown key", |k| !KNOWN.contains(&k.as_str())),
        any_json(),
        0..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// A realistic payload: the required fields, some known fields with their usual types, and
/// unknown fields.
fn payload() -> impl Strategy<Value = Value> {
    (
        "[a-f0-9-]{1,36}",
        prop::sample::select(EVENTS),
        prop::option::of("/[a-z/]{0,20}"),
        prop::option::of("[A-Za-z]{1,10}"),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of(any::<String>()),
        unknown_fields(),
    )
        .prop_map(|(sid, event, cwd, tool, input, response, prompt, extra)| {
            let mut m = Map::new();
            m.insert("session_id".into(), json!(sid));
            m.insert("hook_event_name".into(), json!(event));
            if let Some(c) = cwd {
                m.insert("cwd".into(), json!(c));
            }
            if let Some(t) = tool {
                m.insert("tool_name".into(), json!(t));
            }
            // Null is not a tool input Claude Code sends; the parser may fold it away.
            if let Some(i) = input.filter(|v| !v.is_null()) {
                m.insert("tool_input".into(), i);
            }
            if let Some(r) = response.filter(|v| !v.is_null()) {
                m.insert("tool_response".into(), r);
            }
            if let Some(p) = prompt {
                m.insert("prompt".into(), json!(p));
            }
            m.extend(extra);
            Value::Object(m)
        })
}

/// A payload where the known fields may have any type at all (a future or broken Claude Code).
fn hostile_payload() -> impl Strategy<Value = Value> {
    (
        "[a-z0-9]{1,10}",
        prop::sample::select(EVENTS),
        prop::collection::btree_map(prop::sample::select(KNOWN), any_json(), 0..10),
        unknown_fields(),
    )
        .prop_map(|(sid, event, known, extra)| {
            let mut m: Map<String, Value> =
                known.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            m.extend(extra);
            m.insert("session_id".into(), json!(sid));
            m.insert("hook_event_name".into(), json!(event));
            Value::Object(m)
        })
}

/// The built-in policy, built once.
fn policy() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(Policy::builtin)
}

fn ctx() -> EvalContext {
    EvalContext {
        cwd: Some("/home/u/proj".into()),
        project_dir: Some("/home/u/proj".into()),
        home: Some("/home/u".into()),
        maestro_data_dir: Some("/home/u/.local/share/maestro".into()),
        ..Default::default()
    }
}

/// Segments that destroy a whole tree the agent has no business touching.
const DESTRUCTIVE: &[&str] = &[
    "rm -rf /",
    "rm -rf /*",
    "rm -fr /",
    "rm -Rf /",
    "rm -r -f /",
    "rm -rf --no-preserve-root /",
    "sudo rm -rf /",
    "rm -rf ~",
    "rm -rf ~/",
    "rm -rf $HOME",
    "rm -rf /home/u",
    "/bin/rm -rf /",
    "rm -rf / --verbose",
];

/// A benign command with random word arguments: no quotes, comments, escapes, heredocs or
/// substitutions that could legitimately swallow the next segment.
fn benign_command() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "ls",
                "echo",
                "cat",
                "git status",
                "cargo build",
                "grep -n",
                "true",
                "pwd",
                "wc -l",
                "sleep 0",
                "mkdir -p",
                "touch",
            ][..],
        ),
        prop::collection::vec("[A-Za-z0-9_./=:-]{1,12}", 0..4),
    )
        .prop_map(|(cmd, args)| {
            let mut s = cmd.to_string();
            for a in args {
                s.push(' ');
                s.push_str(&a);
            }
            s
        })
}

/// Random text without the characters that can legitimately make a following segment
/// inert (quotes, escapes, comments, heredocs, substitutions, grouping).
fn noise() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 _./=:,+@%^*!?-]{0,30}"
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["; ", " && ", " || ", "\n", " & ", ";\n"][..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn payload_parsing_never_panics(v in any_json()) {
        let _ = HookEvent::parse(&v);
    }

    #[test]
    fn payloads_round_trip_with_their_unknown_fields(p in payload()) {
        let ev = HookEvent::parse(&p).expect("a payload with both required fields parses");
        prop_assert_eq!(ev.to_value(), p);
    }

    #[test]
    fn hostile_payloads_parse_and_keep_every_unknown_field(p in hostile_payload()) {
        let ev = HookEvent::parse(&p).expect("required fields present: never refused");
        prop_assert_eq!(&ev.common.session_id, p["session_id"].as_str().expect("sid"));
        let back = ev.to_value();
        for (k, v) in p.as_object().expect("object") {
            if !KNOWN.contains(&k.as_str()) {
                prop_assert_eq!(back.get(k), Some(v), "unknown field {} kept", k);
            }
        }
    }

    #[test]
    fn envelope_parsing_never_panics(v in any_json(), payload in any_json()) {
        let _ = serde_json::from_value::<Envelope>(v);
        let mut e = serde_json::to_value(Envelope::new("PostToolUse", payload)).expect("env");
        // Damage one field at a time.
        for k in ["v", "event_id", "captured_at", "event", "source", "maestro", "truncated"] {
            let mut d = e.clone();
            d[k] = json!([1, "x", null]);
            let _ = serde_json::from_value::<Envelope>(d);
        }
        e.as_object_mut().expect("object").remove("payload");
        let _ = serde_json::from_value::<Envelope>(e);
    }

    #[test]
    fn envelopes_round_trip_their_payload_verbatim(
        p in payload(),
        extra in unknown_fields(),
        host in prop::option::of(any::<String>()),
        pid in prop::option::of(any::<u32>()),
    ) {
        let mut env = Envelope::new(p["hook_event_name"].as_str().expect("name"), p.clone());
        env.source.host = host;
        env.source.claude_pid = pid;
        let mut v = serde_json::to_value(&env).expect("serialises");
        // A newer hook may add top-level fields: they must not make the envelope unreadable.
        for (k, x) in extra {
            if v.get(&k).is_none() {
                v[k] = x;
            }
        }
        let back: Envelope = serde_json::from_value(v).expect("parses");
        prop_assert_eq!(&back.payload, &p);
        prop_assert_eq!(back, env);
    }

    #[test]
    fn any_command_text_never_panics_the_policy(cmd in any::<String>()) {
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert!(!d.rule_id.is_empty());
    }

    #[test]
    fn a_destructive_segment_is_never_allowed(
        before in prop::collection::vec(benign_command(), 0..3),
        seps in prop::collection::vec(separator(), 5),
        bad in prop::sample::select(DESTRUCTIVE),
        after in prop::collection::vec(benign_command(), 0..3),
    ) {
        let mut parts = before;
        parts.push(bad.to_string());
        parts.extend(after);
        let mut cmd = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                cmd.push_str(seps[i % seps.len()]);
            }
            cmd.push_str(part);
        }
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{:?} -> {:?}", cmd, d);
    }

    #[test]
    fn a_destructive_line_after_random_noise_is_never_allowed(
        prefix in noise(),
        bad in prop::sample::select(DESTRUCTIVE),
        suffix in noise(),
    ) {
        // Whatever the noise parses as (or fails to), the destructive line is its own command.
        let cmd = format!("{prefix}\n{bad}\n{suffix}");
        let d = policy().evaluate("Bash", &json!({"command": cmd}), &ctx());
        prop_assert_ne!(d.outcome, Outcome::Allow, "{:?} -> {:?}", cmd, d);
    }
}

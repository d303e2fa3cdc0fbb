//! The allow list for a spawn request's `extra_args`.
//!
//! Maestro builds the command line of a spawned session itself: `-p <prompt>`, the stream-json
//! output, the hooks as `--settings`, `--permission-mode` and `--model`. `extra_args` may add
//! options on top, but only the ones below: anything else (another `--settings`, which Claude
//! Code would apply after Maestro's and so drop its hooks; `--setting-sources`, `--mcp-config`,
//! `--strict-mcp-config`, `--dangerously-skip-permissions`, `--permission-prompt-tool`,
//! `--plugin-dir`, `--agents`, `--agent`, `--bare`, `--safe-mode`, `--resume`, `--continue`,
//! `--session-id`, `--input-format`, `--output-format`, `-p`, a positional argument, `--`, ...)
//! is refused.
//!
//! Checked against `claude --help` of Claude Code 2.1.197 and 2.1.332. Claude Code parses its
//! command line with commander.js, which takes long options exactly (no abbreviations: `--sett`
//! is an unknown option, not `--settings`), `--opt=value` as well as `--opt value`, and for a
//! variadic option (`<tools...>`) every following word up to the next option. So here:
//!
//! - an option is matched by its exact name, in either form; short options are refused (`-n`
//!   has the long form `--name`), which also rules out combined short flags such as `-pc`;
//! - a value given as a separate word must not start with `-` (write `--opt=-value`), so a word
//!   can never be read as a value here and as an option by Claude Code;
//! - the words after a variadic option are its values.
//!
//! Deliberately allowed: `--allowedTools` / `--disallowedTools` and `--add-dir` change Claude
//! Code's own permission rules, which sit *under* Maestro's: every tool call still goes through
//! the `PreToolUse` hook first, and Maestro's deny and hold win whatever Claude Code's rules say.
//! They give less than the `permission_mode` field already can (`bypassPermissions`).

/// How an allowed option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A flag: no value (`--opt=value` is refused).
    Nothing,
    /// Exactly one value.
    One(Check),
    /// One or more values (commander's `<values...>`).
    Many(Check),
}

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Any text (NUL and size are checked by the caller).
    Text,
    /// A model name: no spaces or control characters, at most 200 characters.
    Model,
    /// A positive whole number.
    Count,
    /// A positive decimal number.
    Amount,
    /// One of `low`, `medium`, `high`, `xhigh`, `max`.
    Effort,
    /// An absolute path.
    AbsolutePath,
}

/// The allowed options (long names, without the leading `--`).
const ALLOWED: &[(&str, Takes)] = &[
    ("model", Takes::One(Check::Model)),
    ("fallback-model", Takes::One(Check::Model)),
    ("max-turns", Takes::One(Check::Count)),
    ("max-budget-usd", Takes::One(Check::Amount)),
    ("effort", Takes::One(Check::Effort)),
    ("append-system-prompt", Takes::One(Check::Text)),
    ("system-prompt", Takes::One(Check::Text)),
    ("name", Takes::One(Check::Text)),
    ("json-schema", Takes::One(Check::Text)),
    ("allowedTools", Takes::Many(Check::Text)),
    ("allowed-tools", Takes::Many(Check::Text)),
    ("disallowedTools", Takes::Many(Check::Text)),
    ("disallowed-tools", Takes::Many(Check::Text)),
    ("tools", Takes::Many(Check::Text)),
    ("add-dir", Takes::Many(Check::AbsolutePath)),
    ("verbose", Takes::Nothing),
    ("include-partial-messages", Takes::Nothing),
    ("include-hook-events", Takes::Nothing),
    ("no-session-persistence", Takes::Nothing),
    ("disable-slash-commands", Takes::Nothing),
    ("exclude-dynamic-system-prompt-sections", Takes::Nothing),
];

/// Options refused with a specific explanation (anything else not allowed gets the generic one).
const WHY_REFUSED: &[(&str, &str)] = &[
    (
        "settings",
        "it would replace the settings that carry Maestro's hooks",
    ),
    (
        "setting-sources",
        "it changes which settings (and hooks) Claude Code loads",
    ),
    (
        "mcp-config",
        "MCP servers are configured in the project, not per spawn",
    ),
    (
        "strict-mcp-config",
        "MCP servers are configured in the project, not per spawn",
    ),
    (
        "dangerously-skip-permissions",
        "use the permission_mode field",
    ),
    (
        "allow-dangerously-skip-permissions",
        "use the permission_mode field",
    ),
    ("permission-mode", "use the permission_mode field"),
    (
        "permission-prompt-tool",
        "Maestro handles permission prompts",
    ),
    ("plugin-dir", "plugins can bring their own hooks"),
    ("plugin-url", "plugins can bring their own hooks"),
    (
        "agents",
        "agent definitions can bring their own hooks and permission modes",
    ),
    (
        "agent",
        "agent definitions can bring their own hooks and permission modes",
    ),
    ("bare", "it skips hooks"),
    ("safe-mode", "it disables hooks"),
    ("print", "Maestro sets -p itself"),
    ("input-format", "Maestro sets the input and output formats"),
    ("output-format", "Maestro sets the input and output formats"),
    ("resume", "a spawn starts a new conversation"),
    ("continue", "a spawn starts a new conversation"),
    ("session-id", "a spawn starts a new conversation"),
    ("fork-session", "a spawn starts a new conversation"),
];

/// Checks `extra_args` against the allow list; the error says which entry and why.
pub fn check(args: &[String]) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        let Some(body) = word.strip_prefix("--").filter(|b| !b.is_empty()) else {
            return Err(refusal(i, word));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(takes) = ALLOWED
            .iter()
            .find(|(allowed, _)| *allowed == name)
            .map(|(_, t)| *t)
        else {
            return Err(refusal(i, word));
        };
        i += 1;
        match (takes, inline) {
            (Takes::Nothing, None) => {}
            (Takes::Nothing, Some(_)) => {
                return Err(format!("extra_args[{}]: --{name} takes no value", i - 1))
            }
            (Takes::One(c) | Takes::Many(c), Some(v)) => check_value(i - 1, name, c, v)?,
            (Takes::One(c), None) => {
                let Some(v) = args.get(i).filter(|v| !v.starts_with('-')) else {
                    return Err(format!(
                        "extra_args[{}]: --{name} needs a value (a value that starts with '-' \
                         must be written --{name}=VALUE)",
                        i - 1
                    ));
                };
                check_value(i, name, c, v)?;
                i += 1;
            }
            (Takes::Many(c), None) => {
                let first = i;
                while let Some(v) = args.get(i).filter(|v| !v.starts_with('-')) {
                    check_value(i, name, c, v)?;
                    i += 1;
                }
                if i == first {
                    return Err(format!(
                        "extra_args[{}]: --{name} needs at least one value",
                        first - 1
                    ));
                }
            }
        }
    }
    Ok(())
}

fn refusal(index: usize, word: &str) -> String {
    let allowed: Vec<String> = ALLOWED.iter().map(|(n, _)| format!("--{n}")).collect();
    let name = word
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default();
    let why = if !word.starts_with('-') {
        "a positional argument (Maestro passes the prompt itself)".to_string()
    } else if word == "--" {
        "'--' would turn the following words into the prompt".to_string()
    } else if !word.starts_with("--") {
        "short options are not accepted; use the long form".to_string()
    } else {
        match WHY_REFUSED.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => format!("not allowed: {why}"),
            None => "not an allowed option".to_string(),
        }
    };
    format!(
        "extra_args[{index}] {word:?} is refused: {why}. Allowed: {}",
        allowed.join(", ")
    )
}

fn check_value(index: usize, name: &str, check: Check, v: &str) -> Result<(), String> {
    let ok = match check {
        Check::Text => true,
        Check::Model => {
            !v.is_empty()
                && v.len() <= 200
                && !v.chars().any(|c| c.is_control() || c.is_whitespace())
        }
        Check::Count => v.parse::<u32>().is_ok_and(|n| n > 0),
        Check::Amount => v.parse::<f64>().is_ok_and(|n| n.is_finite() && n > 0.0),
        Check::Effort => ["low", "medium", "high", "xhigh", "max"].contains(&v),
        Check::AbsolutePath => v.starts_with('/'),
    };
    if ok {
        return Ok(());
    }
    let want = match check {
        Check::Text => "text",
        Check::Model => "a model name without spaces or control characters",
        Check::Count => "a positive whole number",
        Check::Amount => "a positive number",
        Check::Effort => "one of low, medium, high, xhigh, max",
        Check::AbsolutePath => "an absolute path",
    };
    Err(format!(
        "extra_args[{index}]: the value {v:?} of --{name} must be {want}"
    ))
}

#[cfg(test)]
mod tests {
    use super::check;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn accepts_the_allowed_options_in_both_forms() {
        for ok in [
            &[][..],
            &["--model", "sonnet"],
            &["--model=claude-x"],
            &["--fallback-model", "haiku", "--max-turns", "3"],
            &["--max-turns=2", "--verbose", "--effort", "high"],
            &["--allowedTools", "Bash(git *)", "Edit", "--verbose"],
            &["--allowed-tools=Read"],
            &["--disallowedTools", "WebFetch"],
            &["--add-dir", "/srv/a", "/srv/b"],
            &["--append-system-prompt", "Be brief."],
            &["--append-system-prompt=-starts with a dash"],
            &["--max-budget-usd", "0.5", "--name", "review"],
        ] {
            assert_eq!(check(&args(ok)), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refuses_what_replaces_hooks_settings_mcp_or_permissions() {
        for bad in [
            &["--settings", "{}"][..],
            &["--settings={\"hooks\":{}}"],
            &["--setting-sources", "user"],
            &["--mcp-config", "x.json"],
            &["--strict-mcp-config"],
            &["--dangerously-skip-permissions"],
            &["--allow-dangerously-skip-permissions"],
            &["--permission-mode", "bypassPermissions"],
            &["--permission-prompt-tool", "mcp__x__y"],
            &["--plugin-dir", "/tmp/p"],
            &["--agents", "{}"],
            &["--agent", "x"],
            &["--bare"],
            &["--safe-mode"],
            &["-p"],
            &["--print"],
            &["--output-format", "json"],
            &["--input-format=stream-json"],
            &["--resume", "abc"],
            &["-c"],
            &["--continue"],
            &["--session-id", "00000000-0000-0000-0000-000000000000"],
            &["--debug-file", "/tmp/x"],
            &["--"],
            &["--", "--settings", "{}"],
            &["stray prompt"],
            &["-d"],
            &["-dp"],
            &["--sett", "{}"],
            &["--settings-x"],
            &["--SETTINGS", "{}"],
            &["--verbose=no"],
        ] {
            let e = check(&args(bad)).expect_err(&format!("{bad:?} must be refused"));
            assert!(e.contains("extra_args[0]"), "{bad:?}: {e}");
        }
        let e = check(&args(&["--verbose", "--settings", "{}"])).expect_err("second entry");
        assert!(
            e.contains("extra_args[1]") && e.contains("Maestro's hooks"),
            "{e}"
        );
    }

    #[test]
    fn a_value_is_never_an_option() {
        // The separate value must not look like an option (Claude Code might read it as one).
        let e = check(&args(&["--model", "--settings", "{}"])).expect_err("dash value");
        assert!(e.contains("--model needs a value"), "{e}");
        // A variadic option stops at the next option, which is then checked on its own.
        let e = check(&args(&["--allowedTools", "Bash", "--mcp-config", "x"])).expect_err("mcp");
        assert!(e.contains("extra_args[2]"), "{e}");
        assert!(check(&args(&["--add-dir"])).is_err());
        assert!(check(&args(&["--add-dir", "relative"])).is_err());
        assert!(check(&args(&["--max-turns", "0"])).is_err());
        assert!(check(&args(&["--max-turns", "lots"])).is_err());
        assert!(check(&args(&["--effort", "extreme"])).is_err());
        assert!(check(&args(&["--model", "two words"])).is_err());
        assert!(check(&args(&["--max-budget-usd", "NaN"])).is_err());
    }
}

//! The Claude Code command line for a spawned session: the configured command, the headless
//! flags, the Maestro hooks as `--settings` JSON, and the child's environment.
//!
//! The hooks are the same exec-form handlers `maestro-hook install` writes
//! (`{"type": "command", "command": "<canonical path of maestro-hook>", "args": ["<event>"]}`),
//! so where install already registered them Claude Code sees identical handlers (same command
//! and args) and runs each once.

use super::request::ValidSpawn;
use maestro_shared::cli_versions::ClaudeVersion;
use serde_json::Value;
use std::path::PathBuf;

/// Env var naming the `maestro-hook` binary (default: beside the server binary).
pub const HOOK_BIN_ENV: &str = "MAESTRO_HOOK_BIN";

/// Everything needed to start the process.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandLine {
    /// Program (first word of the configured command).
    pub program: String,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Env vars set on top of the server's own.
    pub env: Vec<(String, String)>,
    /// Env vars of the server's own not passed on (see [`withheld_env`]).
    pub env_remove: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// SDK control protocol (CLIs before 2.1.268): the stdin line carrying the prompt; stdin
    /// is piped and kept open by [`super::sdk::feed`]. `None`: stdin is /dev/null.
    pub stdin: Option<String>,
}

impl CommandLine {
    /// The command as the operator would type it, with the (long) settings JSON elided.
    pub fn display_words(&self) -> Vec<String> {
        let mut out = vec![self.program.clone()];
        let mut after_settings = false;
        for a in &self.args {
            if after_settings {
                out.push("<maestro hooks>".into());
                after_settings = false;
                continue;
            }
            after_settings = a == "--settings";
            out.push(a.clone());
        }
        out
    }
}

/// Who the child reports to.
#[derive(Debug, Clone)]
pub struct Target {
    /// `MAESTRO_URL` for the hook.
    pub url: String,
    /// `MAESTRO_TLS_FINGERPRINT` for the hook (an HTTPS server's certificate).
    pub tls_pin: Option<String>,
    /// Ingest token.
    pub token: String,
    /// Maestro session id.
    pub session_id: String,
    /// Maestro task id.
    pub task_id: String,
    /// The server's data dir, as `MAESTRO_DATA_DIR`: not a secret, and the hook's offline
    /// fallback protects it (its token files are denied to the agent).
    pub data_dir: String,
}

/// `MAESTRO_*` variables of the server's environment a spawned session may inherit: settings
/// of the hook itself, none of them a credential or a path to one.
pub const INHERITED_MAESTRO_ENV: &[&str] = &[
    "MAESTRO_SPOOL_DIR",
    "MAESTRO_HOOK_LOG",
    "MAESTRO_HOOK_CONFIG",
    "MAESTRO_CONNECT_TIMEOUT_MS",
    "MAESTRO_TIMEOUT_MS",
    "MAESTRO_PRE_TOOL_USE_WAIT_MS",
    "MAESTRO_PERMISSION_REQUEST_WAIT_MS",
    "MAESTRO_DRAIN_TIMEOUT_MS",
    "MAESTRO_DRAIN_GIVE_UP_SECS",
    "MAESTRO_DRAIN_LINGER_SECS",
    "MAESTRO_HOOK_DELIVERY",
    "MAESTRO_MAX_STRING_BYTES",
];

/// The variables of `server_env` (names) a spawned session must not inherit: every
/// `MAESTRO_*` one not in [`INHERITED_MAESTRO_ENV`] (`MAESTRO_OPERATOR_TOKEN`,
/// `MAESTRO_INGEST_TOKEN`, `MAESTRO_CONFIG` whose file may hold both tokens,
/// `MAESTRO_TOKEN_FILE`, the server's own settings, ...), and `CLAUDECODE` (a server started
/// from inside Claude Code must not make the child think it is nested). The variables the
/// hook needs are then set explicitly ([`build`]).
pub fn withheld_env<I, S>(server_env: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    server_env
        .into_iter()
        .filter_map(|k| {
            let k = k.as_ref();
            let withheld = (k.starts_with("MAESTRO_") && !INHERITED_MAESTRO_ENV.contains(&k))
                || k == "CLAUDECODE";
            withheld.then(|| k.to_string())
        })
        .collect()
}

/// Splits `MAESTRO_CLAUDE_COMMAND` (a path, or a command with leading arguments, quoted as in
/// a POSIX shell).
pub fn split_command(command: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(command).ok_or_else(|| {
        format!("cannot parse the claude command {command:?} (unbalanced quotes?)")
    })?;
    if words.is_empty() {
        return Err("the claude command is empty".into());
    }
    Ok(words)
}

/// The `maestro-hook` binary: `MAESTRO_HOOK_BIN`, else `maestro-hook` beside the running
/// server binary, canonicalized like `maestro-hook install` does.
pub fn find_hook_bin() -> Result<String, String> {
    let path = match std::env::var_os(HOOK_BIN_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find the server binary: {e}"))?;
            exe.parent()
                .map(|d| d.join("maestro-hook"))
                .ok_or_else(|| "the server binary has no parent directory".to_string())?
        }
    };
    if !path.is_file() {
        return Err(format!(
            "maestro-hook not found at {} (install it beside maestro-server or set {HOOK_BIN_ENV})",
            path.display()
        ));
    }
    let path = path.canonicalize().unwrap_or(path);
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the maestro-hook path is not UTF-8: {}", path.display()))
}

/// The `--settings` JSON: exactly the entries `maestro-hook install` writes for Claude Code
/// `version` ([`maestro_shared::registration`]): only the events that version knows, so it
/// never warns about an unknown one, and Claude Code de-duplicates them where the project
/// also has them installed.
pub fn hook_settings(hook_bin: &str, version: &ClaudeVersion) -> Value {
    maestro_shared::registration::settings(hook_bin, version)
}

/// Builds the full command line.
pub fn build(
    base: &[String],
    spawn: &ValidSpawn,
    hook_bin: &str,
    target: &Target,
    version: &ClaudeVersion,
) -> Result<CommandLine, String> {
    let (program, leading) = base
        .split_first()
        .ok_or_else(|| "the claude command is empty".to_string())?;
    let mut args: Vec<String> = leading.to_vec();
    let sdk = uses_sdk_prompts(version);
    let stdin = if sdk {
        // The prompt goes in on stdin; asks reach the PermissionRequest hook (held in
        // Maestro) instead of being refused without a word, as plain `-p` does on these CLIs.
        args.push("-p".into());
        for a in [
            "--input-format",
            "stream-json",
            "--permission-prompt-tool",
            "stdio",
        ] {
            args.push(a.into());
        }
        Some(super::sdk::user_message(&spawn.prompt))
    } else {
        // `-p` is a flag and the prompt a positional argument: a prompt that starts with '-'
        // would be read as an option, so it gets a leading space.
        let prompt = if spawn.prompt.starts_with('-') {
            format!(" {}", spawn.prompt)
        } else {
            spawn.prompt.clone()
        };
        args.push("-p".into());
        args.push(prompt);
        None
    };
    for a in ["--output-format", "stream-json", "--verbose", "--settings"] {
        args.push(a.into());
    }
    args.push(hook_settings(hook_bin, version).to_string());
    if let Some(m) = &spawn.permission_mode {
        args.push("--permission-mode".into());
        args.push(m.clone());
    }
    if let Some(m) = &spawn.model {
        args.push("--model".into());
        args.push(m.clone());
    }
    args.extend(spawn.extra_args.iter().cloned());
    // Exactly what the hook needs: where to report, as which session, with the ingest token.
    let mut env = vec![
        ("MAESTRO_SESSION_ID".to_string(), target.session_id.clone()),
        ("MAESTRO_TASK_ID".to_string(), target.task_id.clone()),
        ("MAESTRO_URL".to_string(), target.url.clone()),
        ("MAESTRO_TOKEN".to_string(), target.token.clone()),
        ("MAESTRO_DATA_DIR".to_string(), target.data_dir.clone()),
    ];
    if let Some(pin) = &target.tls_pin {
        env.push(("MAESTRO_TLS_FINGERPRINT".to_string(), pin.clone()));
    }
    // Claude Code's own OpenTelemetry export, to this server's OTLP receiver: cost and
    // tokens per request, tagged with the Maestro task and session.
    env.extend(maestro_shared::otel::env(
        &target.url,
        &target.token,
        &[
            ("maestro.task_id", &target.task_id),
            ("maestro.session_id", &target.session_id),
        ],
    ));
    let env_remove = withheld_env(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
        .into_iter()
        .filter(|k| !env.iter().any(|(set, _)| set == k))
        .collect();
    Ok(CommandLine {
        program: program.clone(),
        args,
        env,
        env_remove,
        cwd: spawn.working_dir.clone(),
        stdin,
    })
}

/// Does a session on Claude Code `version` ask for permission through the SDK control
/// protocol? Yes before 2.1.268, where PermissionRequest does not fire in `-p` runs; since
/// then the plain `-p` run fires it and Maestro holds it like any other.
pub fn uses_sdk_prompts(version: &ClaudeVersion) -> bool {
    !version.permission_request_in_print()
}

/// `http://ADDR` the hooks of a spawned session post to; an unspecified bind address
/// (`0.0.0.0`, `::`) is reached through loopback.
pub fn server_url(addr: std::net::SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spawn() -> ValidSpawn {
        ValidSpawn {
            prompt: "-do it".into(),
            working_dir: PathBuf::from("/tmp"),
            permission_mode: Some("acceptEdits".into()),
            model: Some("sonnet".into()),
            extra_args: vec!["--allowedTools".into(), "Grep Glob".into()],
        }
    }

    #[test]
    fn splits_commands_with_leading_arguments() {
        assert_eq!(
            split_command("node '/opt/my claude/cli.js' --debug").expect("split"),
            vec!["node", "/opt/my claude/cli.js", "--debug"]
        );
        assert!(split_command("  ").is_err());
        assert!(split_command("node 'unbalanced").is_err());
    }

    #[test]
    fn builds_the_headless_command_with_hooks() {
        let target = Target {
            url: "http://127.0.0.1:1".into(),
            token: "tok".into(),
            session_id: "s_1".into(),
            task_id: "t_1".into(),
            data_dir: "/data".into(),
            tls_pin: None,
        };
        let base = vec!["node".to_string(), "cli.js".to_string()];
        let c = build(
            &base,
            &spawn(),
            "/bin/maestro-hook",
            &target,
            &ClaudeVersion::new(2, 1, 197),
        )
        .expect("build");
        assert_eq!(c.program, "node");
        assert_eq!(&c.args[..3], &["cli.js", "-p", "--input-format"]);
        let i = c
            .args
            .iter()
            .position(|a| a == "--settings")
            .expect("settings");
        let settings: Value = serde_json::from_str(&c.args[i + 1]).expect("json");
        let post = &settings["hooks"]["PostToolUse"][0];
        assert_eq!(post["matcher"], "*");
        assert_eq!(
            post["hooks"][0],
            json!({"type": "command", "command": "/bin/maestro-hook", "args": ["post-tool-use"], "timeout": 10})
        );
        assert!(settings["hooks"].get("WorktreeCreate").is_none());
        // 2.1.197 does not know these: registering them would make it warn.
        for unknown in ["DirectoryAdded", "PreModelSwitch", "PreSkillShellCommand"] {
            assert!(settings["hooks"].get(unknown).is_none(), "{unknown}");
        }
        let newest = hook_settings("/bin/maestro-hook", &ClaudeVersion::new(2, 1, 332));
        assert!(newest["hooks"].get("PreSkillShellCommand").is_some());
        assert!(settings["hooks"].get("FileChanged").is_none());
        assert!(settings["hooks"]["Stop"][0].get("matcher").is_none());
        assert!(c
            .args
            .ends_with(&["--allowedTools".to_string(), "Grep Glob".to_string()]));
        assert!(c
            .env
            .contains(&("MAESTRO_SESSION_ID".to_string(), "s_1".to_string())));
        assert!(c.display_words().contains(&"<maestro hooks>".to_string()));
        // 2.1.197: the prompt goes in on stdin through the SDK control protocol.
        let stdin: Value = serde_json::from_str(c.stdin.as_deref().expect("sdk")).expect("json");
        assert_eq!(stdin["message"]["content"], "-do it");
        assert!(c
            .args
            .windows(2)
            .any(|w| w == ["--permission-prompt-tool", "stdio"]));
        // 2.1.268+: a plain `-p` run (PermissionRequest fires there).
        let plain = build(
            &base,
            &spawn(),
            "/bin/maestro-hook",
            &target,
            &ClaudeVersion::new(2, 1, 268),
        )
        .expect("build");
        assert_eq!(plain.stdin, None);
        assert_eq!(&plain.args[..3], &["cli.js", "-p", " -do it"]);
        assert!(!plain.args.iter().any(|a| a == "--permission-prompt-tool"));
    }

    #[test]
    fn no_credential_but_the_ingest_token_reaches_the_child() {
        let server_env = [
            "PATH",
            "HOME",
            "ANTHROPIC_API_KEY",
            "MAESTRO_OPERATOR_TOKEN",
            "MAESTRO_INGEST_TOKEN",
            "MAESTRO_CONFIG",
            "MAESTRO_TOKEN_FILE",
            "MAESTRO_TOKEN",
            "MAESTRO_DATA_DIR",
            "MAESTRO_BIND",
            "MAESTRO_SOMETHING_NEW",
            "MAESTRO_SPOOL_DIR",
            "MAESTRO_MAX_STRING_BYTES",
            "CLAUDECODE",
        ];
        let withheld = withheld_env(server_env);
        for k in [
            "MAESTRO_OPERATOR_TOKEN",
            "MAESTRO_INGEST_TOKEN",
            "MAESTRO_CONFIG",
            "MAESTRO_TOKEN_FILE",
            "MAESTRO_TOKEN",
            "MAESTRO_DATA_DIR",
            "MAESTRO_BIND",
            "MAESTRO_SOMETHING_NEW",
            "CLAUDECODE",
        ] {
            assert!(withheld.iter().any(|w| w == k), "{k} must be withheld");
        }
        for k in [
            "PATH",
            "HOME",
            "ANTHROPIC_API_KEY",
            "MAESTRO_SPOOL_DIR",
            "MAESTRO_MAX_STRING_BYTES",
        ] {
            assert!(!withheld.iter().any(|w| w == k), "{k} is passed on");
        }
        // What build sets for the hook: the ingest token under the name the hook reads.
        let target = Target {
            url: "http://127.0.0.1:1".into(),
            token: "ingest".into(),
            session_id: "s_1".into(),
            task_id: "t_1".into(),
            data_dir: "/data".into(),
            tls_pin: None,
        };
        let c = build(
            &["claude".to_string()],
            &spawn(),
            "/bin/maestro-hook",
            &target,
            &ClaudeVersion::new(2, 1, 332),
        )
        .expect("build");
        let names: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names[..5],
            [
                "MAESTRO_SESSION_ID",
                "MAESTRO_TASK_ID",
                "MAESTRO_URL",
                "MAESTRO_TOKEN",
                "MAESTRO_DATA_DIR"
            ]
        );
        // The rest is Claude Code's OpenTelemetry export to this server, with the same
        // ingest token and the Maestro ids as resource attributes.
        let get = |k: &str| c.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CLAUDE_CODE_ENABLE_TELEMETRY"), Some("1"));
        assert_eq!(
            get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            get("OTEL_EXPORTER_OTLP_HEADERS"),
            Some("Authorization=Bearer ingest")
        );
        assert_eq!(
            get("OTEL_RESOURCE_ATTRIBUTES"),
            Some("maestro.task_id=t_1,maestro.session_id=s_1")
        );
        assert!(c.env.iter().all(|(_, v)| v != "operator"));
        assert!(!c.env_remove.iter().any(|k| names.contains(&k.as_str())));
    }

    #[test]
    fn url_of_an_unspecified_bind_is_loopback() {
        assert_eq!(
            server_url("0.0.0.0:8420".parse().expect("addr")),
            "http://127.0.0.1:8420"
        );
        assert_eq!(
            server_url("[::]:1".parse().expect("addr")),
            "http://[::1]:1"
        );
    }
}

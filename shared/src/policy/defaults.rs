//! The built-in default policy.
//!
//! Guard rules come first and cannot be loosened by accident: a user rule can only change them
//! by naming their id. Then come user rules, then the built-in allow rules, then the fallback
//! (ask).

use super::checks::{Check, Protected};
use super::rules::Rule;
use super::Outcome;

/// The guard rules: the dangerous set (deny) and "not understood" (ask). The deny rules among
/// them are also what the hook's offline fallback enforces.
pub(crate) fn guard_rules() -> Vec<Rule> {
    use Outcome::{Ask, Deny};
    vec![
        Rule::builtin(
            "deny.fork-bomb",
            Deny,
            "Fork bomb: a function that spawns copies of itself would exhaust the machine.",
            Check::ForkBomb,
        ),
        Rule::builtin(
            "deny.download-piped-to-shell",
            Deny,
            "Running code straight from the network (curl/wget piped into a shell or interpreter) \
             is blocked. Download the file, inspect it, and run it as a separate step.",
            Check::DownloadToShell,
        ),
        Rule::builtin(
            "deny.disk-format",
            Deny,
            "Formatting or partitioning disks (mkfs, wipefs, fdisk, parted, ...) is blocked.",
            Check::DiskFormat,
        ),
        Rule::builtin(
            "deny.write-device",
            Deny,
            "Writing to device files (dd of=/dev/..., > /dev/sda) is blocked; only /dev/null, \
             /dev/stdout and /dev/stderr may be written.",
            Check::DeviceWrite,
        ),
        Rule::builtin(
            "deny.system-power",
            Deny,
            "Shutting down or rebooting the machine is blocked.",
            Check::SystemPower,
        ),
        Rule::builtin(
            "deny.rm-recursive-root-or-home",
            Deny,
            "Recursive delete of /, the home directory, or a directory containing the home \
             directory or the project is blocked. Delete specific paths inside the project.",
            Check::DeleteRootOrHome,
        ),
        Rule::builtin(
            "deny.rm-recursive-outside-project",
            Deny,
            "Recursive delete of a path outside the project (or of the project directory itself) \
             is blocked. Only delete paths inside the project (or below a temp dir such as \
             /tmp).",
            Check::DeleteOutsideProject,
        ),
        Rule::builtin(
            "deny.rm-recursive-unknown-target",
            Deny,
            "Recursive delete of a path only known at run time (variable, command substitution, \
             xargs) cannot be checked and is blocked. Write the literal path inside the project, \
             or use `find <dir> ... -exec rm -r {} +`.",
            Check::DeleteUnknown,
        ),
        Rule::builtin(
            "deny.chmod-recursive-outside-project",
            Deny,
            "Recursive chmod/chown/chgrp outside the project is blocked.",
            Check::ChmodOutsideProject,
        ),
        Rule::builtin(
            "deny.write-env-files",
            Deny,
            "Writing .env files (secrets) is blocked. Edit .env.example instead and tell the user \
             which variables to set.",
            Check::Write(Protected::EnvFiles),
        ),
        Rule::builtin(
            "deny.write-ssh",
            Deny,
            "Writing to ~/.ssh (keys, authorized_keys, config) is blocked.",
            Check::Write(Protected::Ssh),
        ),
        Rule::builtin(
            "deny.write-git-internals",
            Deny,
            "Writing inside .git/ directly is blocked; use git commands instead.",
            Check::Write(Protected::GitInternals),
        ),
        Rule::builtin(
            "deny.write-claude-settings",
            Deny,
            "Changing .claude/settings*.json, .mcp.json or ~/.claude.json (permissions, hooks, MCP \
             servers) is blocked; ask the user to make the change.",
            Check::Write(Protected::ClaudeSettings),
        ),
        Rule::builtin(
            "deny.write-maestro-data",
            Deny,
            "Maestro's data, token and config files are off limits to agents.",
            Check::Write(Protected::MaestroData),
        ),
        Rule::builtin(
            "deny.read-maestro-tokens",
            Deny,
            "Reading Maestro's tokens and data or Claude Code's credentials is blocked (an agent \
             must not approve its own requests). Search a narrower directory if this was a broad search.",
            Check::ReadMaestroSecrets,
        ),
        Rule::builtin(
            "deny.read-process-environment",
            Deny,
            "Reading process environments or memory (/proc/*/environ, /proc/*/mem, `ps e`) is \
             blocked: they may hold Maestro's operator token and other secrets.",
            Check::ProcessEnvironment,
        ),
        Rule::builtin(
            "deny.exfiltration",
            Deny,
            "Sending secret files (.env, keys, cloud credentials, tokens) or files outside the \
             project to the network is blocked.",
            Check::Exfiltration,
        ),
        Rule::builtin(
            "deny.write-shell-startup",
            Deny,
            "Writing shell startup files (~/.bashrc, ~/.profile, ~/.zshrc, ...) or ~/.gitconfig \
             is blocked: the next shell or git would run what they contain.",
            Check::Write(Protected::ShellStartup),
        ),
        Rule::builtin(
            "deny.read-ssh-private-keys",
            Deny,
            "Reading SSH private keys is blocked.",
            Check::ReadSshKeys,
        ),
        Rule::builtin(
            "deny.git-force-push-main",
            Deny,
            "Force-pushing (or deleting, mirroring) main/master is blocked. Push to a feature \
             branch, naming it explicitly, without --force.",
            Check::ForcePushMain,
        ),
        Rule::builtin(
            "deny.write-outside-project",
            Deny,
            "Writing or deleting outside the project is blocked (temp dirs such as /tmp are \
             fine). Keep changes inside the project directory.",
            Check::WriteOutsideProject,
        ),
        Rule::builtin(
            "ask.not-understood",
            Ask,
            "Maestro could not fully understand this call, so it is left to a human.",
            Check::NotUnderstood,
        ),
    ]
}

/// The built-in allow rules, tried after user rules.
pub(crate) fn allow_rules() -> Vec<Rule> {
    use Outcome::Allow;
    let task_tools = Rule::for_tools(
        "allow.task-tools",
        Allow,
        "Task and todo bookkeeping only.",
        &[
            "TaskCreate",
            "TaskUpdate",
            "TaskGet",
            "TaskList",
            "TodoWrite",
            "TodoRead",
        ],
    );
    vec![
        Rule::builtin(
            "allow.read-only-tools",
            Allow,
            "Read-only tool inside the project.",
            Check::ReadOnlyTool,
        ),
        task_tools,
        Rule::builtin(
            "allow.read-only-commands",
            Allow,
            "Read-only command inside the project.",
            Check::ReadOnlyCommand,
        ),
    ]
}

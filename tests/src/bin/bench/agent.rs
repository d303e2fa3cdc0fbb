//! `bench agent-overhead`: what the hooks cost the agent. The real Claude Code CLI (`-p`) runs
//! `--calls` Bash tool calls (`true`) scripted by the fake Messages API, once per variant and
//! repetition, variants interleaved (the order rotates every repetition), on each CLI version:
//!
//! - `none`: no hooks;
//! - `floor`: every event `maestro-hook install` registers, each running
//!   `dd of=/dev/null status=none` (a process that only reads stdin);
//! - `maestro-hook`: the settings `maestro-hook install` writes (the binary under test), server
//!   up; `... server down`: the same with nothing listening (the hook spools);
//! - `baseline ...` (with `--baseline-hook PATH`): the same two with another hook binary (an
//!   earlier build), its own `install` output;
//! - the seed's 4 events (SessionStart, PostToolUse, Notification, SessionEnd): the floor,
//!   maestro-hook and the seed's bash+jq+curl script (`tests/baseline/hook.sh`).
//!
//! Overhead per session = median wall time of the variant minus median of `none`; per tool call
//! = that over `--calls`; the ratio is against the floor on the same events. After the runs it
//! counts what reached the server per session (and what is left in the down variant's spool).

use super::{f, release_bin, static_hook, Args, BenchServer, Table};
use anyhow::{bail, Context, Result};
use maestro_tests::claude_cli::{claude_binary_for, offline_env, SUPPORTED_VERSIONS};
use maestro_tests::fake_api::{FakeApi, Script, Step};
use maestro_tests::server::{INGEST_TOKEN, OPERATOR_TOKEN};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The seed design's hook events.
const SEED_EVENTS: &[&str] = &["SessionStart", "PostToolUse", "Notification", "SessionEnd"];

/// Where a variant's hooks send their events.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// No server involved.
    None,
    /// The release server.
    Up,
    /// A closed port (the hook spools).
    Down,
}

/// One hook configuration to time.
struct Variant {
    name: String,
    /// The `--settings` file.
    settings: PathBuf,
    /// Name of the floor variant on the same events (`None`: this is a floor or `none`).
    floor: Option<String>,
    target: Target,
    spool: PathBuf,
    /// Wall time of each run, ms.
    runs: Vec<f64>,
    /// The Claude session ids of the runs.
    sessions: Vec<String>,
}

/// Runs the benchmark.
pub fn run(a: &Args) -> Result<()> {
    let reps = a.num("reps", 5, 2)? as usize;
    let calls = a.num("calls", 60, 20)? as usize;
    let versions: Vec<String> = match a.flags.get("versions") {
        Some(v) => v.split(',').map(str::to_string).collect(),
        None => SUPPORTED_VERSIONS.iter().map(|v| v.to_string()).collect(),
    };
    let hook = match static_hook() {
        Some(p) => p,
        None => release_bin("maestro-hook")?,
    };
    let baseline = a.flags.get("baseline-hook").map(PathBuf::from);
    println!("hook under test: {}", hook.display());
    if let Some(b) = &baseline {
        println!("baseline hook: {}", b.display());
    }
    let mut server = BenchServer::start(&[])?;
    let tmp = tempfile::Builder::new().prefix("maestro-agent").tempdir()?;
    let root = tmp.path().canonicalize()?;
    let project = root.join("proj");
    let home = root.join("home");
    std::fs::create_dir_all(&project)?;
    std::fs::create_dir_all(&home)?;
    let steps: Vec<Step> = (0..calls)
        .map(|i| {
            Step::tool(
                "Bash",
                json!({"command": "true", "description": format!("call {i}")}),
            )
        })
        .chain([Step::text("done")])
        .collect();
    let fake = FakeApi::start(Script::new(steps));
    let down_url = format!("http://127.0.0.1:{}", super::closed_port());
    println!(
        "{calls} Bash tool calls per `-p` session, {reps} repetitions, variants interleaved \
         (rotating order); wall time from spawn to exit\n"
    );

    for version in &versions {
        let claude = claude_binary_for(version).map_err(anyhow::Error::msg)?;
        let dir = root.join(version);
        std::fs::create_dir_all(&dir)?;
        let mut variants = variants(&dir, &hook, baseline.as_deref(), version)?;
        // Warm-up: one run of each (page cache, the CLI's first start in this HOME).
        for v in &variants {
            let url = url_for(v.target, &server.url, &down_url);
            run_session(&claude, &fake.url, &project, &home, v, &url, calls)?;
        }
        for rep in 0..reps {
            let n = variants.len();
            for k in 0..n {
                let v = &mut variants[(k + rep) % n];
                let url = url_for(v.target, &server.url, &down_url);
                let (ms, sid) = run_session(&claude, &fake.url, &project, &home, v, &url, calls)?;
                v.runs.push(ms);
                v.sessions.push(sid);
            }
        }
        report(version, calls, &variants, &server)?;
    }
    println!(
        "\nloadavg after the runs: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    server.stop();
    Ok(())
}

fn url_for(t: Target, up: &str, down: &str) -> String {
    match t {
        Target::Down => down.to_string(),
        _ => up.to_string(),
    }
}

/// The variants for one CLI version, their settings files written under `dir`.
fn variants(
    dir: &Path,
    hook: &Path,
    baseline: Option<&Path>,
    version: &str,
) -> Result<Vec<Variant>> {
    let installed = install_settings(dir, "new", hook, version)?;
    let dd = which("dd")?;
    let floor = with_command(&installed, &dd, &["of=/dev/null", "status=none"], None);
    let seed_floor = with_command(
        &installed,
        &dd,
        &["of=/dev/null", "status=none"],
        Some(SEED_EVENTS),
    );
    let seed_hook = only_events(&installed, SEED_EVENTS);
    let script = maestro_tests::workspace_root().join("tests/baseline/hook.sh");
    let seed_script = seed_script_settings(&script);
    let mut out = Vec::new();
    let mut add =
        |name: &str, settings: Value, floor: Option<&str>, target: Target| -> Result<()> {
            let path = dir.join(format!("settings-{}.json", out.len()));
            std::fs::write(&path, serde_json::to_vec_pretty(&settings)?)?;
            let spool = dir.join(format!("spool-{}", out.len()));
            out.push(Variant {
                name: name.to_string(),
                settings: path,
                floor: floor.map(str::to_string),
                target,
                spool,
                runs: Vec::new(),
                sessions: Vec::new(),
            });
            Ok(())
        };
    add("none", json!({}), None, Target::None)?;
    add(
        "floor: dd on every registered event",
        floor,
        None,
        Target::None,
    )?;
    add(
        "maestro-hook as installed, server up",
        installed.clone(),
        Some("floor: dd on every registered event"),
        Target::Up,
    )?;
    add(
        "maestro-hook as installed, server down",
        installed,
        Some("floor: dd on every registered event"),
        Target::Down,
    )?;
    if let Some(b) = baseline {
        let old = install_settings(dir, "baseline", b, version)?;
        add(
            "baseline hook as installed, server up",
            old.clone(),
            Some("floor: dd on every registered event"),
            Target::Up,
        )?;
        add(
            "baseline hook as installed, server down",
            old,
            Some("floor: dd on every registered event"),
            Target::Down,
        )?;
    }
    add("seed events: floor (dd)", seed_floor, None, Target::None)?;
    add(
        "seed events: maestro-hook, server up",
        seed_hook,
        Some("seed events: floor (dd)"),
        Target::Up,
    )?;
    add(
        "seed events: bash+jq+curl script, server up",
        seed_script,
        Some("seed events: floor (dd)"),
        Target::Up,
    )?;
    Ok(out)
}

/// Runs `<hook> install --scope project` for `version` in a scratch project under `dir` and
/// returns the settings it wrote.
fn install_settings(dir: &Path, label: &str, hook: &Path, version: &str) -> Result<Value> {
    let project = dir.join(format!("install-{label}"));
    std::fs::create_dir_all(&project)?;
    let mut cmd = Command::new(hook);
    cmd.args(["install", "--scope", "project", "--claude-version", version])
        .arg("--project-dir")
        .arg(&project)
        .env("HOME", dir)
        .env("MAESTRO_HOOK_CONFIG", dir.join("none.env"))
        .env("MAESTRO_TOKEN", INGEST_TOKEN);
    let out = cmd.output().context("running maestro-hook install")?;
    if !out.status.success() {
        bail!(
            "{} install failed: {}{}",
            hook.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(project.join(".claude/settings.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// `settings` with every handler's command replaced (and only `events`, when given).
fn with_command(settings: &Value, command: &Path, args: &[&str], events: Option<&[&str]>) -> Value {
    let mut s = match events {
        Some(ev) => only_events(settings, ev),
        None => settings.clone(),
    };
    if let Some(hooks) = s["hooks"].as_object_mut() {
        for groups in hooks.values_mut() {
            for g in groups.as_array_mut().into_iter().flatten() {
                for h in g["hooks"].as_array_mut().into_iter().flatten() {
                    h["command"] = json!(command.display().to_string());
                    h["args"] = json!(args);
                }
            }
        }
    }
    s
}

/// `settings` with only the hooks of `events`.
fn only_events(settings: &Value, events: &[&str]) -> Value {
    let mut s = settings.clone();
    if let Some(hooks) = s["hooks"].as_object_mut() {
        hooks.retain(|k, _| events.contains(&k.as_str()));
    }
    s
}

/// The seed's script on the seed's events (exec form, as the other variants).
fn seed_script_settings(script: &Path) -> Value {
    let mut hooks = serde_json::Map::new();
    for ev in SEED_EVENTS {
        let mut group = json!({"hooks": [{"type": "command", "command": "bash",
            "args": [script.display().to_string(), ev], "timeout": 10}]});
        if *ev == "PostToolUse" {
            group["matcher"] = json!("*");
        }
        hooks.insert(ev.to_string(), json!([group]));
    }
    json!({ "hooks": hooks })
}

fn which(name: &str) -> Result<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{name} not found on PATH")
}

/// One `-p` session; returns (wall ms, Claude session id).
fn run_session(
    claude: &Path,
    api: &str,
    project: &Path,
    home: &Path,
    v: &Variant,
    url: &str,
    calls: usize,
) -> Result<(f64, String)> {
    let mut cmd = Command::new(claude);
    cmd.current_dir(project)
        .args(["-p", "run the benchmark", "--output-format", "json"])
        .args(["--allowedTools", "Bash", "--settings"])
        .arg(&v.settings)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SHELL", "/bin/bash")
        .env("USER", "maestro-bench")
        .envs(offline_env(api, home))
        .env("MAESTRO_URL", url)
        .env("MAESTRO_TOKEN", INGEST_TOKEN)
        .env("MAESTRO_SPOOL_DIR", &v.spool)
        .env("MAESTRO_HOOK_CONFIG", home.join("none.env"))
        .env("MAESTRO_DATA_DIR", home.join("no-server-data"))
        .env("MAESTRO_DRAIN_GIVE_UP_SECS", "30")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let t = Instant::now();
    let mut child = cmd.spawn().context("spawning claude")?;
    let mut out = String::new();
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = t + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{}: the CLI ran over 300 s", v.name);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = super::ms(t.elapsed());
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    let result: Value = serde_json::from_str(out.trim())
        .with_context(|| format!("{}: CLI output is not JSON: {out}", v.name))?;
    let turns = result["num_turns"].as_u64().unwrap_or(0) as usize;
    if !status.success() || result["is_error"] == true || turns < calls {
        bail!(
            "{}: the session failed ({status}, {turns} turns): {out}",
            v.name
        );
    }
    let sid = result["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((elapsed, sid))
}

fn median(v: &[f64]) -> f64 {
    super::summarize(v).p50
}

/// Prints the table of one CLI version and what reached the server.
fn report(version: &str, calls: usize, variants: &[Variant], server: &BenchServer) -> Result<()> {
    let none = variants
        .iter()
        .find(|v| v.name == "none")
        .map(|v| median(&v.runs))
        .unwrap_or(0.0);
    let over = |name: &str| {
        variants
            .iter()
            .find(|v| v.name == name)
            .map(|v| median(&v.runs) - none)
    };
    println!("\n### Claude Code {version}\n");
    let mut t = Table::new(&[
        "hooks registered",
        "session median ms",
        "runs (ms)",
        "overhead per session ms",
        "per tool call ms",
        "vs floor, same events",
    ]);
    for v in variants {
        let m = median(&v.runs);
        let o = m - none;
        let vs = v
            .floor
            .as_deref()
            .and_then(over)
            .filter(|fl| *fl > 0.0)
            .map(|fl| format!("{:.2}x", o / fl))
            .unwrap_or_else(|| "-".into());
        let mut sorted = v.runs.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        t.row(vec![
            v.name.clone(),
            f(m),
            sorted
                .iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            if v.name == "none" { "0".into() } else { f(o) },
            if v.name == "none" {
                "0".into()
            } else {
                f(o / calls as f64)
            },
            vs,
        ]);
    }
    t.print();
    // What reached the server (the drainer may still be forwarding: give it a moment).
    std::thread::sleep(Duration::from_secs(3));
    let http = reqwest::blocking::Client::new();
    for v in variants.iter().filter(|v| v.target != Target::None) {
        let mut counts = Vec::new();
        for sid in &v.sessions {
            let s: Value = http
                .get(format!(
                    "{}/api/sessions?claude_session_id={sid}",
                    server.url
                ))
                .bearer_auth(OPERATOR_TOKEN)
                .send()?
                .json()?;
            counts.push(s[0]["event_count"].as_u64().unwrap_or(0));
        }
        let spooled = std::fs::read_dir(&v.spool)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.ends_with(".json") && !n.starts_with('.')
                    })
                    .count()
            })
            .unwrap_or(0);
        println!(
            "{}: events stored per session {:?}, {} envelopes in its spool",
            v.name, counts, spooled
        );
    }
    Ok(())
}

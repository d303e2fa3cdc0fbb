//! Fault: the spool cannot be written (a full disk, or a spool path that cannot exist). The
//! hook still exits 0 promptly with an empty stdout, says why on stderr, and leaves what was
//! already spooled intact.

mod hook_support;

use hook_support::{closed_port, HookEnv, Run};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn event(n: usize) -> Value {
    json!({
        "session_id": "spool-full",
        "transcript_path": "/home/dev/.claude/projects/p/spool-full.jsonl",
        "cwd": "/home/dev/proj",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("echo {n}")},
        "tool_response": {"stdout": "x".repeat(2000), "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_full_{n:04}"),
    })
}

/// A hook environment whose server is down (nothing listens on the port).
fn offline_hook() -> HookEnv {
    let mut hook = HookEnv::new(&format!("http://127.0.0.1:{}", closed_port()));
    hook.set("MAESTRO_CONNECT_TIMEOUT_MS", "200");
    // Drainers started by these calls cannot deliver anything: let them stop soon.
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "2");
    hook
}

fn assert_refused_to_spool(run: &Run, what: &str) {
    run.assert_silent_success(what);
    assert!(
        run.stderr.contains("NOT spooled"),
        "{what}: stderr says the event could not be spooled, got {:?}",
        run.stderr
    );
}

#[test]
fn a_spool_path_that_cannot_exist_still_exits_zero_and_says_why() {
    let mut hook = offline_hook();
    // The spool's parent is a regular file: works as root too (no permission games).
    let blocker = hook.tmp.path().join("not-a-dir");
    std::fs::write(&blocker, b"a regular file").expect("blocker");
    let spool = blocker.join("spool");
    hook.set("MAESTRO_SPOOL_DIR", &spool.display().to_string());
    hook.spool = spool;
    let t = Instant::now();
    let run = hook.send(&event(1));
    eprintln!(
        "hook with an impossible spool returned in {:?}",
        t.elapsed()
    );
    assert_refused_to_spool(&run, "spool parent is a file");
    assert_eq!(
        std::fs::read(&blocker).expect("blocker"),
        b"a regular file",
        "the blocking file is untouched"
    );
}

/// A mounted tmpfs, lazily unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes filler files until the file system refuses more bytes.
fn fill(dir: &Path) -> u64 {
    use std::io::Write;
    let mut written = 0u64;
    let chunk = vec![0xA5u8; 1024];
    for i in 0..10_000 {
        let Ok(mut f) = std::fs::File::create(dir.join(format!("filler-{i}"))) else {
            break;
        };
        let mut any = false;
        while f.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
            any = true;
        }
        let _ = f.sync_all();
        if !any {
            break;
        }
    }
    written
}

#[test]
fn a_full_spool_disk_still_exits_zero_and_keeps_what_was_spooled() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a tmpfs needs root (the parent-is-a-file test still runs)");
        return;
    }
    let mut hook = offline_hook();
    let mnt = hook.tmp.path().join("tiny");
    let _fs = match Tmpfs::mount(&mnt, "64k") {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a tmpfs here ({e})");
            return;
        }
    };
    let spool = mnt.join("spool");
    hook.set("MAESTRO_SPOOL_DIR", &spool.display().to_string());
    hook.spool = spool.clone();

    // A few events are spooled while there is room.
    for n in 0..4 {
        hook.send(&event(n))
            .assert_silent_success(&format!("spooling #{n}"));
    }
    let before: Vec<(PathBuf, Vec<u8>)> = hook
        .spooled()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("spooled file");
            (p, bytes)
        })
        .collect();
    assert_eq!(before.len(), 4, "four events spooled");

    // Fill the disk.
    let filled = fill(&mnt);
    eprintln!("filled the tmpfs with {filled} more bytes");

    for n in 10..13 {
        let t = Instant::now();
        let run = hook.send(&event(n));
        eprintln!("hook on a full spool disk returned in {:?}", t.elapsed());
        assert_refused_to_spool(&run, &format!("full disk #{n}"));
    }

    // What was spooled before is untouched, byte for byte, and nothing half-written
    // pretends to be an event.
    let after = hook.spooled();
    assert_eq!(
        after,
        before.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        "the spool lists exactly the events spooled before the disk filled"
    );
    for (p, bytes) in &before {
        assert_eq!(
            &std::fs::read(p).expect("still readable"),
            bytes,
            "{} changed",
            p.display()
        );
        let v: Value = serde_json::from_slice(bytes).expect("spooled file is a JSON envelope");
        assert!(v["event_id"].is_string());
    }

    // Room again: spooling works again.
    for i in 0..10_000 {
        if std::fs::remove_file(mnt.join(format!("filler-{i}"))).is_err() {
            break;
        }
    }
    hook.send(&event(20))
        .assert_silent_success("spooling after space came back");
    assert_eq!(hook.spooled().len(), 5);
}

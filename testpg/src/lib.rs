//! A real, throwaway PostgreSQL server for tests.
//!
//! [`TestPg::start`] makes a new cluster in a temporary directory (`initdb`, trust
//! authentication, user `postgres`) and starts a `postgres` on a free port of 127.0.0.1; the
//! server is stopped and the directory removed when the [`TestPg`] is dropped. Tests that only
//! need a database of their own use [`shared_database`]: one server per test process (or the
//! one `MAESTRO_TEST_PG_URL` names), a fresh database per call.
//!
//! The binaries are the newest `/usr/lib/postgresql/*/bin` (Debian's layout) of version
//! [`MIN_MAJOR`] or newer, else those of the `initdb` on `PATH`; `MAESTRO_TEST_PG_BIN` names
//! the directory explicitly. PostgreSQL refuses to run as root: as root, the cluster's
//! directory is given to the user `postgres` (else `nobody`) and the server is run as that
//! user through `setpriv`.
//!
//! Nothing here asserts on wall-clock time: every wait is a poll with a generous deadline,
//! whose error carries the server log's tail.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The oldest PostgreSQL major version the harness accepts.
pub const MIN_MAJOR: u32 = 15;

/// The environment variable that names a running server (`postgres://user@host:port/db`) for
/// [`shared_database`] to create its databases on, instead of starting one.
pub const URL_ENV: &str = "MAESTRO_TEST_PG_URL";

/// The environment variable that names the directory of the PostgreSQL binaries to use.
pub const BIN_ENV: &str = "MAESTRO_TEST_PG_BIN";

/// How long a server may take to accept connections, or to shut down.
const DEADLINE: Duration = Duration::from_secs(60);

/// How many free ports [`TestPg::start`] tries when another process takes the one it picked.
const PORT_ATTEMPTS: usize = 5;

/// The superuser `initdb` creates.
const SUPERUSER: &str = "postgres";

/// The file in a `start_detached` directory that marks it as the harness's (so that
/// [`stop_detached`] removes only directories it made).
const MARKER: &str = ".maestro-testpg";

/// Harness failures. Each keeps its cause, and those about the server carry its log's tail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No PostgreSQL binaries of a supported version were found.
    #[error(
        "no PostgreSQL {MIN_MAJOR} or newer found (looked at ${BIN_ENV}, \
         /usr/lib/postgresql/*/bin and the initdb on PATH): run install/dev-deps.sh"
    )]
    NotInstalled,
    /// Running as root, and neither `postgres` nor `nobody` exists to run the server as.
    #[error("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")]
    NoUser,
    /// A file-system or process operation failed.
    #[error("{context}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL program (`initdb`, `psql`, ...) exited with a failure.
    #[error("{program} failed ({status}): {output}")]
    Command {
        /// The program and what it was asked to do.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed (standard error, then standard output).
        output: String,
    },
    /// The server exited before it accepted connections.
    #[error("postgres exited during startup ({status}); server log tail:\n{log}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of the server log.
        log: String,
    },
    /// The server did not accept connections before the deadline.
    #[error("postgres did not accept connections on port {port} within {secs} s; server log tail:\n{log}")]
    NotReady {
        /// The port it was started on.
        port: u16,
        /// The deadline, in seconds.
        secs: u64,
        /// The end of the server log.
        log: String,
    },
    /// The server did not shut down before the deadline (it was then killed).
    #[error("postgres did not shut down within {secs} s (killed it); server log tail:\n{log}")]
    StopTimedOut {
        /// The deadline, in seconds.
        secs: u64,
        /// The end of the server log.
        log: String,
    },
    /// Another server answered on the port picked for this one.
    #[error("port {port} is served by another PostgreSQL (data directory {other})")]
    PortTaken {
        /// The port.
        port: u16,
        /// The data directory of the server that answered.
        other: String,
    },
    /// [`TestPg::start_again`] on a server that is running.
    #[error("postgres is already running (pid {pid})")]
    AlreadyRunning {
        /// The postmaster's pid.
        pid: u32,
    },
    /// A database name that is not a plain identifier.
    #[error("invalid database name {0:?}: use 1 to 63 ASCII letters, digits and underscores, not starting with a digit")]
    InvalidName(String),
    /// A server URL that is not `postgres://...` / `postgresql://...`.
    #[error("invalid PostgreSQL URL {0:?}: expected postgres://user@host:port[/db]")]
    InvalidUrl(String),
    /// [`stop_detached`] on a directory without a server the harness started.
    #[error("{0}")]
    NotOurs(String),
}

/// Shorthand for the harness's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// The PostgreSQL programs the harness runs.
#[derive(Debug, Clone)]
struct Bins {
    dir: PathBuf,
}

impl Bins {
    /// Finds the binaries: `$MAESTRO_TEST_PG_BIN`, else the newest Debian
    /// `/usr/lib/postgresql/N/bin` with `N >= MIN_MAJOR`, else the `initdb` on `PATH`.
    fn find() -> Result<Self> {
        if let Some(dir) = std::env::var_os(BIN_ENV).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if dir.join("initdb").is_file() {
                return Ok(Self { dir });
            }
            return Err(Error::NotInstalled);
        }
        let mut best: Option<(u32, PathBuf)> = None;
        if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
            for entry in entries.flatten() {
                let Some(major) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let bin = entry.path().join("bin");
                if major >= MIN_MAJOR
                    && bin.join("initdb").is_file()
                    && best.as_ref().is_none_or(|(m, _)| major > *m)
                {
                    best = Some((major, bin));
                }
            }
        }
        if let Some((_, dir)) = best {
            return Ok(Self { dir });
        }
        let initdb = which("initdb").ok_or(Error::NotInstalled)?;
        let initdb = fs::canonicalize(&initdb).unwrap_or(initdb);
        let out = Command::new(&initdb)
            .arg("--version")
            .output()
            .map_err(io(format!("running {} --version", initdb.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let major = text
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|m| m.parse::<u32>().ok());
        match (major, initdb.parent()) {
            (Some(m), Some(dir)) if m >= MIN_MAJOR => Ok(Self {
                dir: dir.to_path_buf(),
            }),
            _ => Err(Error::NotInstalled),
        }
    }

    fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `psql` of this installation, else the one on `PATH`.
    fn psql(&self) -> PathBuf {
        let p = self.program("psql");
        if p.is_file() {
            p
        } else {
            PathBuf::from("psql")
        }
    }
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The unprivileged user the server runs as when the harness runs as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when not root (the server runs as the current user).
    fn pick() -> Result<Option<Self>> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        ["postgres", "nobody"]
            .iter()
            .find_map(|name| lookup_user(name))
            .map(Some)
            .ok_or(Error::NoUser)
    }
}

/// The uid and gid of a user, from the password database.
fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter (plain integers and null pointers).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` is as long as we say.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(RunAs {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// A command for `program`, run as `run_as` (through `setpriv`) when set, in `cwd`, without
/// the caller's `PG*` environment (which would redirect the client programs).
fn command(program: &Path, run_as: Option<RunAs>, cwd: &Path) -> Command {
    let mut cmd = match run_as {
        Some(u) => {
            let setpriv = if Path::new("/usr/bin/setpriv").is_file() {
                PathBuf::from("/usr/bin/setpriv")
            } else {
                which("setpriv").unwrap_or_else(|| PathBuf::from("setpriv"))
            };
            let mut c = Command::new(setpriv);
            c.arg(format!("--reuid={}", u.uid))
                .arg(format!("--regid={}", u.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a command to completion; a failure exit is an [`Error::Command`].
fn run(mut cmd: Command, what: &str) -> Result<Output> {
    let out = cmd.output().map_err(io(format!("running {what}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            program: what.to_string(),
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            )
            .trim()
            .to_string(),
        })
    }
}

/// A port of 127.0.0.1 that was free a moment ago (bound to port 0, then released).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("binding 127.0.0.1:0"))?;
    Ok(l.local_addr()
        .map_err(io("reading a bound address"))?
        .port())
}

/// The last `max` bytes of a file from `from` on, as text.
fn tail(path: &Path, from: u64, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.max(len.saturating_sub(max));
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut bytes).is_err() {
        return format!("(could not read {})", path.display());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether a failed start's log says it may work when tried again (port taken by another
/// process, or the previous server's processes still holding its shared memory or lock).
fn transient(log: &str) -> bool {
    [
        "Address already in use",
        "could not create any TCP/IP sockets",
        "pre-existing shared memory block",
        "postmaster.pid\" already exists",
    ]
    .iter()
    .any(|m| log.contains(m))
}

/// Whether a failed start's log says another process has the port.
fn port_conflict(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("could not create any TCP/IP sockets")
}

/// A PostgreSQL server of its own, in a directory of its own: see the crate documentation.
///
/// Dropping it stops the server (fast shutdown, else SIGKILL) and removes its directory.
#[derive(Debug)]
pub struct TestPg {
    /// The temporary directory, removed on drop (`None` for a detached server).
    _temp: Option<tempfile::TempDir>,
    /// The cluster's directory: `data/`, `sock/` and `server.log`.
    dir: PathBuf,
    bins: Bins,
    run_as: Option<RunAs>,
    port: u16,
    /// The running postmaster (`None` when stopped, killed or detached).
    child: Option<Child>,
}

impl TestPg {
    /// Makes a new cluster in a temporary directory and starts it on a free port of
    /// 127.0.0.1, returning once it accepts connections. As root, the temporary directory's
    /// parent (`$TMPDIR`, else `/tmp`) must be searchable by the user the server runs as.
    pub fn start() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("maestro-testpg-")
            .tempdir()
            .map_err(io("creating a temporary directory"))?;
        let dir = temp.path().to_path_buf();
        let mut pg = Self::init(dir, Some(temp))?;
        pg.launch_on_free_port(false)?;
        Ok(pg)
    }

    /// Makes a new cluster in `dir` (created if missing; must be empty) and starts it in a
    /// session of its own, so that it outlives this process; returns its URL. The directory
    /// and the server are left behind: [`stop_detached`] stops the server and removes them.
    /// Every ancestor of `dir` must be searchable by the user the server runs as.
    pub fn start_detached(dir: &Path) -> Result<String> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let dir = fs::canonicalize(dir).map_err(io(format!("resolving {}", dir.display())))?;
        let mut entries = fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))?;
        if entries.next().is_some() {
            return Err(Error::Io {
                context: format!("{} is not empty", dir.display()),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        fs::write(dir.join(MARKER), b"").map_err(io(format!("writing {MARKER}")))?;
        let mut pg = Self::init(dir, None)?;
        pg.launch_on_free_port(true)?;
        let url = pg.url();
        // Forget the child: the server is not ours to stop any more.
        pg.child = None;
        Ok(url)
    }

    /// Runs `initdb` in `dir/data`, handing `dir` to the server's user first when root.
    fn init(dir: PathBuf, temp: Option<tempfile::TempDir>) -> Result<Self> {
        let bins = Bins::find()?;
        let run_as = RunAs::pick()?;
        let sock = dir.join("sock");
        fs::create_dir_all(&sock).map_err(io(format!("creating {}", sock.display())))?;
        if let Some(u) = run_as {
            for p in [&dir, &sock] {
                std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid)).map_err(io(format!(
                    "giving {} to uid {}",
                    p.display(),
                    u.uid
                )))?;
            }
        }
        let mut cmd = command(&bins.program("initdb"), run_as, &dir);
        cmd.arg("-D")
            .arg(dir.join("data"))
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        run(cmd, "initdb")?;
        Ok(Self {
            _temp: temp,
            dir,
            bins,
            run_as,
            port: 0,
            child: None,
        })
    }

    /// Starts the server on a free port, trying another when a process takes it first.
    fn launch_on_free_port(&mut self, detached: bool) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            match self.launch(detached) {
                Err(Error::PortTaken { .. }) if attempt < PORT_ATTEMPTS => {}
                Err(Error::Exited { log, .. })
                    if port_conflict(&log) && attempt < PORT_ATTEMPTS => {}
                other => return other,
            }
            attempt += 1;
        }
    }

    /// Starts `postgres` on `self.port` and polls until it accepts connections.
    fn launch(&mut self, detached: bool) -> Result<()> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log
            .try_clone()
            .map_err(io("duplicating the log descriptor"))?;
        let mut cmd = command(&self.bins.program("postgres"), self.run_as, &self.dir);
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(self.dir.join("sock"))
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=200"])
            .stdout(log)
            .stderr(log2);
        if detached {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe and touches no memory of this process.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(io("starting postgres"))?;
        self.child = Some(child);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().map_err(io("waiting for postgres"))? {
                    self.child = None;
                    return Err(Error::Exited {
                        status,
                        log: tail(&log_path, log_start, 4000),
                    });
                }
            }
            if self.is_ready() {
                break;
            }
            if Instant::now() >= deadline {
                let log = tail(&log_path, log_start, 4000);
                self.signal_and_reap(libc::SIGKILL);
                return Err(Error::NotReady {
                    port: self.port,
                    secs: DEADLINE.as_secs(),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The server that answered must be ours, not another one on the same port.
        let other = self.psql("postgres", "SHOW data_directory")?;
        let ours = fs::canonicalize(self.data_dir()).unwrap_or_else(|_| self.data_dir());
        if Path::new(other.trim()) != ours && Path::new(other.trim()) != self.data_dir() {
            self.signal_and_reap(libc::SIGKILL);
            return Err(Error::PortTaken {
                port: self.port,
                other: other.trim().to_string(),
            });
        }
        Ok(())
    }

    /// Whether the server on our port accepts connections (`pg_isready`).
    fn is_ready(&self) -> bool {
        let mut cmd = command(&self.bins.program("pg_isready"), None, &self.dir);
        cmd.args([
            "-q",
            "-h",
            "127.0.0.1",
            "-t",
            "5",
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// Sends `signal` to the postmaster and reaps it (no-op when not running).
    fn signal_and_reap(&mut self, signal: libc::c_int) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: the pid is our own child's, not yet reaped, so it cannot be reused.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let _ = child.wait();
        }
    }

    /// The URL of the `postgres` database as the superuser:
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server log (standard output and error of every start).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The postmaster's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        create_database_at(&self.url(), name)?;
        Ok(self.database_url(name))
    }

    /// Runs `sql` in database `db` with `psql` (stopping at the first error) and returns its
    /// unaligned, tuples-only output (`|` between columns, a line per row).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        psql_at(Some(&self.bins), &self.database_url(db), sql)
    }

    /// Turns TLS on with the PEM certificate chain `cert` and key `key`, and with
    /// `tls_only` accepts TCP connections only over TLS (`hostssl` in `pg_hba.conf`);
    /// returns once new connections get the new settings.
    pub fn enable_tls(&self, cert: &str, key: &str, tls_only: bool) -> Result<()> {
        let data = self.data_dir();
        for (name, text) in [("server.crt", cert), ("server.key", key)] {
            let path = data.join(name);
            fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
            // PostgreSQL refuses a key others can read, or one that is not its user's.
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(io(format!("protecting {}", path.display())))?;
            if let Some(u) = self.run_as {
                std::os::unix::fs::chown(&path, Some(u.uid), Some(u.gid)).map_err(io(format!(
                    "giving {} to uid {}",
                    path.display(),
                    u.uid
                )))?;
            }
        }
        if tls_only {
            let hba = data.join("pg_hba.conf");
            let text =
                fs::read_to_string(&hba).map_err(io(format!("reading {}", hba.display())))?;
            let only: Vec<String> = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}"),
                    None => l.to_string(),
                })
                .collect();
            fs::write(&hba, only.join("\n") + "\n")
                .map_err(io(format!("writing {}", hba.display())))?;
        }
        // One statement a call: ALTER SYSTEM cannot run in the implicit transaction of a
        // multi-statement string.
        for sql in [
            "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
            "ALTER SYSTEM SET ssl_key_file = 'server.key'",
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ] {
            self.psql("postgres", sql)?;
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            // A new backend has the postmaster's settings: once it says on, so do the next.
            if self.psql("postgres", "SHOW ssl")?.trim() == "on" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Io {
                    context: format!(
                        "TLS still off after the reload: {}",
                        tail(&self.log_path(), 0, 4000)
                    ),
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with a fast shutdown (SIGINT: sessions are ended, the server
    /// checkpoints) and waits for it to exit; killed if it has not within the deadline.
    /// Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: the pid is our own child's, not yet reaped, so it cannot be reused.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if child
                .try_wait()
                .map_err(io("waiting for postgres to stop"))?
                .is_some()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = tail(&self.log_path(), 0, 4000);
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::StopTimedOut {
                    secs: DEADLINE.as_secs(),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the postmaster with SIGKILL (a crash: no checkpoint; its other processes exit
    /// when they notice) and reaps it. Killing a stopped server does nothing.
    pub fn kill(&mut self) {
        self.signal_and_reap(libc::SIGKILL);
    }

    /// Starts the stopped (or killed) server again on the same port and data directory,
    /// returning once it accepts connections (after crash recovery, if it was killed).
    pub fn start_again(&mut self) -> Result<()> {
        if let Some(pid) = self.pid() {
            return Err(Error::AlreadyRunning { pid });
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.launch(false) {
                // A killed server's processes may hold its shared memory for a moment.
                Err(Error::Exited { log, .. }) if transient(&log) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        if self.stop().is_err() {
            self.kill();
        }
        // `_temp`, dropped after this, removes the directory.
    }
}

/// Runs `sql` on the database at `url` (`postgres://...`) with `psql`, stopping at the first
/// error, and returns its unaligned, tuples-only output (`|` between columns, a line per row).
pub fn psql(url: &str, sql: &str) -> Result<String> {
    psql_at(Bins::find().ok().as_ref(), url, sql)
}

/// Runs `sql` on the database at `url` with `psql` (that of `bins`, else the one on `PATH`:
/// a server named by `MAESTRO_TEST_PG_URL` needs only the client).
fn psql_at(bins: Option<&Bins>, url: &str, sql: &str) -> Result<String> {
    let cwd = std::env::temp_dir();
    let program = bins.map_or_else(|| PathBuf::from("psql"), Bins::psql);
    let mut cmd = command(&program, None, &cwd);
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(url)
        .arg("-c")
        .arg(sql);
    let out = run(cmd, &format!("psql -c {sql:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks that `name` is a plain identifier (so it needs no quoting rules beyond `"..."`).
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

/// `url` with its database replaced by `name` (its query string kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let bad = || Error::InvalidUrl(url.to_string());
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(bad)?;
    let scheme_len = url.len() - rest.len();
    let (before_query, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let authority_end = before_query[scheme_len..]
        .find('/')
        .map_or(before_query.len(), |i| scheme_len + i);
    if authority_end == scheme_len {
        return Err(bad());
    }
    Ok(format!("{}/{name}{query}", &url[..authority_end]))
}

/// Creates database `name` on the server at `server_url` (connecting to the database it
/// names, else libpq's default: the user's name); returns the new database's URL.
fn create_database_at(server_url: &str, name: &str) -> Result<String> {
    check_name(name)?;
    let url = with_database(server_url, name)?;
    let bins = Bins::find().ok();
    let sql = format!("CREATE DATABASE \"{name}\"");
    let mut attempts = 0;
    loop {
        match psql_at(bins.as_ref(), server_url, &sql) {
            Ok(_) => return Ok(url),
            // Another session on the template database makes CREATE DATABASE fail: retry.
            Err(Error::Command { ref output, .. })
                if output.contains("is being accessed by other users") && attempts < 50 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Stops the server [`TestPg::start_detached`] left in `dir` (fast shutdown, killed after
/// the deadline) and removes `dir`. Only a directory the harness made is touched, and only
/// a process whose command line names its data directory is signalled.
pub fn stop_detached(dir: &Path) -> Result<()> {
    if !dir.join(MARKER).is_file() {
        return Err(Error::NotOurs(format!(
            "{} was not made by `testpg start` (no {MARKER})",
            dir.display()
        )));
    }
    let data = fs::canonicalize(dir.join("data")).unwrap_or_else(|_| dir.join("data"));
    if let Some(pid) = postmaster_pid(&data)? {
        // SAFETY: plain syscalls on a pid checked to be our postmaster just above.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + DEADLINE;
        while alive(pid) {
            if Instant::now() >= deadline {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fs::remove_dir_all(dir).map_err(io(format!("removing {}", dir.display())))
}

/// The pid in `data/postmaster.pid`, if that process runs and is the postmaster of `data`.
fn postmaster_pid(data: &Path) -> Result<Option<libc::pid_t>> {
    let pidfile = data.join("postmaster.pid");
    let text = match fs::read_to_string(&pidfile) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {}", pidfile.display()))(e)),
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<libc::pid_t>().ok())
    else {
        return Ok(None);
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&OsStr> = cmdline
        .split(|b| *b == 0)
        .map(std::os::unix::ffi::OsStrExt::from_bytes)
        .collect();
    let ours = args.iter().any(|a| Path::new(a) == data);
    Ok((ours && alive(pid)).then_some(pid))
}

/// Whether process `pid` exists (and is not a zombie).
fn alive(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The per-process server of [`shared_database`], stopped at process exit.
static SHARED: Mutex<Option<TestPg>> = Mutex::new(None);
static AT_EXIT: Once = Once::new();
static DATABASES: AtomicU64 = AtomicU64::new(0);

extern "C" fn stop_shared() {
    // Never block process exit on a lock a test thread still holds.
    let pg = match SHARED.try_lock() {
        Ok(mut g) => g.take(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
        Err(TryLockError::WouldBlock) => None,
    };
    drop(pg);
}

/// The URL of the process-wide server: `$MAESTRO_TEST_PG_URL`, else a [`TestPg`] started on
/// first use and stopped (its directory removed) when the process exits.
fn shared_server() -> Result<String> {
    if let Some(url) = std::env::var_os(URL_ENV).filter(|u| !u.is_empty()) {
        return url
            .into_string()
            .map_err(|u: OsString| Error::InvalidUrl(u.to_string_lossy().into_owned()));
    }
    let mut guard = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pg) = guard.as_ref() {
        return Ok(pg.url());
    }
    let pg = TestPg::start()?;
    let url = pg.url();
    *guard = Some(pg);
    AT_EXIT.call_once(|| {
        // SAFETY: registering a plain extern "C" function; it only drops the server.
        unsafe { libc::atexit(stop_shared) };
    });
    Ok(url)
}

/// Creates a database of a new, unique name on the process-wide server and returns its URL.
///
/// The server is the one `MAESTRO_TEST_PG_URL` names (a server URL; the database in it, if
/// any, is only used to connect), else one [`TestPg`] per process, started on first use.
pub fn shared_database() -> Result<String> {
    let server = shared_server()?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    create_database_at(&server, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let u = |s: &str, n: &str| with_database(s, n).expect(s);
        assert_eq!(u("postgres://p@h:1/postgres", "x"), "postgres://p@h:1/x");
        assert_eq!(u("postgres://p@h:1", "x"), "postgres://p@h:1/x");
        assert_eq!(u("postgresql://p@h:1/", "x"), "postgresql://p@h:1/x");
        assert_eq!(
            u("postgres://p@h:1/db?sslmode=disable", "x"),
            "postgres://p@h:1/x?sslmode=disable"
        );
        assert!(with_database("mysql://h/x", "x").is_err());
        assert!(with_database("postgres:///x", "x").is_err());
    }

    #[test]
    fn database_names() {
        assert!(check_name("t_1_2").is_ok());
        for bad in ["", "1a", "a-b", "a\"b", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn transient_start_failures() {
        assert!(transient(
            "FATAL:  pre-existing shared memory block (key 1, ID 2) is still in use"
        ));
        assert!(port_conflict(
            "LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use"
        ));
        assert!(!transient("FATAL:  data directory has wrong ownership"));
    }
}

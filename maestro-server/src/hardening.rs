//! Keeping the server's credentials out of reach of the agents it supervises.
//!
//! An agent runs commands as the same user as the server (root agents are out of scope: root
//! reads any process's memory). Two ways such a command could read a token from the server
//! process itself are closed here, at start-up, before any other thread exists:
//!
//! - [`set_non_dumpable`]: `prctl(PR_SET_DUMPABLE, 0)`. The kernel then gives the process's
//!   `/proc/<pid>` files to root, so `/proc/<pid>/environ`, `/proc/<pid>/mem` and `ps e` are no
//!   longer readable by the user's other processes, nor can they `ptrace` it. Children do not
//!   inherit it (`execve` resets it).
//! - [`scrub_secret_env`]: the token variables ([`SECRET_ENV`]) are overwritten in place in the
//!   environment block the process started with (the memory `/proc/<pid>/environ` shows, to root
//!   too) and removed from the environment (so no child inherits them).

use std::ffi::CStr;

/// Environment variables that carry credentials: erased by [`scrub_secret_env`] once the
/// configuration has read them.
pub const SECRET_ENV: &[&str] = &[
    "MAESTRO_OPERATOR_TOKEN",
    "MAESTRO_INGEST_TOKEN",
    "MAESTRO_DATABASE_URL",
];

/// Makes the process non-dumpable (see the module docs).
pub fn set_non_dumpable() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(2) with integer arguments only; it changes a flag of this process.
        let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" {
    /// The C library's environment (`environ(7)`).
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrites the values of [`SECRET_ENV`] in the process's environment block with NUL bytes
/// and removes the variables. Returns the names that were present.
///
/// Must run while the process has a single thread (before the async runtime starts): the
/// environment is not thread-safe.
pub fn scrub_secret_env() -> Vec<&'static str> {
    let mut found = Vec::new();
    for name in SECRET_ENV {
        if std::env::var_os(name).is_none() {
            continue;
        }
        found.push(*name);
        // SAFETY: single-threaded (documented precondition), so nothing changes `environ`
        // meanwhile. Each entry is a NUL-terminated "NAME=VALUE" string in writable memory (the
        // initial stack, or the C library's heap copy from setenv); only bytes before its
        // terminating NUL are written.
        unsafe {
            let mut entry = std::ptr::addr_of!(environ).read();
            while !entry.is_null() && !(*entry).is_null() {
                let text = *entry;
                let bytes = CStr::from_ptr(text).to_bytes();
                if bytes.len() > name.len()
                    && bytes.starts_with(name.as_bytes())
                    && bytes[name.len()] == b'='
                {
                    for i in name.len() + 1..bytes.len() {
                        *text.add(i) = 0;
                    }
                }
                entry = entry.add(1);
            }
        }
        std::env::remove_var(name);
    }
    found
}

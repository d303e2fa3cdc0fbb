//! Waiting for the next spooled event (inotify on the spool dir): what lets the drainer stay
//! up between events instead of a hook starting a new one for each.
//!
//! A spool file appears by a rename into the dir (`IN_MOVED_TO`: the hook's temp file, or
//! `flush --requeue` from quarantine), so that is the only event watched, with the removal of
//! the dir itself.

use inotify::{EventMask, Inotify, WatchMask};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// What [`SpoolWatch::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// A spool file was renamed into the dir.
    Arrived,
    /// Nothing within the timeout.
    TimedOut,
    /// The dir was removed (or the watch failed): stop watching.
    Gone,
}

/// An inotify watch on a spool dir.
pub struct SpoolWatch {
    inotify: Inotify,
    buf: Vec<u8>,
    dir: std::path::PathBuf,
    /// (device, inode) of the dir when the watch began.
    id: (u64, u64),
}

/// How often [`SpoolWatch::wait`] checks that the dir is still the one watched: the kernel
/// reports a removed dir (`IN_DELETE_SELF`) only once no open file inside it (our own lock
/// file) pins it, so the path is checked as well.
const RECHECK: Duration = Duration::from_secs(1);

fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

impl SpoolWatch {
    /// Watches `dir` (which must exist).
    pub fn new(dir: &Path) -> std::io::Result<SpoolWatch> {
        let inotify = Inotify::init()?;
        inotify
            .watches()
            .add(dir, WatchMask::MOVED_TO | WatchMask::DELETE_SELF)?;
        let id = dir_id(dir).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the spool dir is gone")
        })?;
        Ok(SpoolWatch {
            inotify,
            buf: vec![0; 4096],
            dir: dir.to_path_buf(),
            id,
        })
    }

    /// Reads the pending events without waiting: `Some` of what they say, `None` when there
    /// were none.
    fn read(&mut self) -> Option<Woke> {
        let mut seen = None;
        loop {
            match self.inotify.read_events(&mut self.buf) {
                Ok(events) => {
                    let mut any = false;
                    for e in events {
                        any = true;
                        if e.mask
                            .intersects(EventMask::DELETE_SELF | EventMask::IGNORED)
                        {
                            return Some(Woke::Gone);
                        }
                        let spooled = e
                            .name
                            .and_then(|n| n.to_str())
                            .is_some_and(crate::spool::is_spool_name);
                        if spooled {
                            seen = Some(Woke::Arrived);
                        }
                    }
                    if !any {
                        return seen;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return seen,
                Err(_) => return Some(Woke::Gone),
            }
        }
    }

    /// Forgets the events so far (the next listing of the dir sees those files anyway).
    pub fn clear(&mut self) -> Option<Woke> {
        self.read().filter(|w| *w == Woke::Gone)
    }

    /// Waits up to `timeout` for a spool file to be renamed into the dir.
    pub fn wait(&mut self, timeout: Duration) -> Woke {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(w) = self.read() {
                return w;
            }
            if dir_id(&self.dir) != Some(self.id) {
                return Woke::Gone;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woke::TimedOut;
            }
            let left = left.min(RECHECK);
            let mut pfd = libc::pollfd {
                fd: self.inotify.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Woke::Gone;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_a_spooled_file_only_and_on_removal() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("spool");
        std::fs::create_dir_all(&dir).expect("dir");
        let mut w = SpoolWatch::new(&dir).expect("watch");
        assert_eq!(w.wait(Duration::from_millis(20)), Woke::TimedOut);
        // A temp file written and a log line: no wake-up.
        std::fs::write(dir.join(".tmp-1-x.json"), b"{}").expect("tmp");
        std::fs::write(dir.join("hook.log"), b"x").expect("log");
        assert_eq!(w.wait(Duration::from_millis(20)), Woke::TimedOut);
        // The rename into place wakes it.
        std::fs::rename(dir.join(".tmp-1-x.json"), dir.join("1-x.json")).expect("rename");
        assert_eq!(w.wait(Duration::from_secs(5)), Woke::Arrived);
        assert_eq!(w.clear(), None);
        // Removed while a file inside is still open (the drainer's lock): no IN_DELETE_SELF
        // until it is closed, the path check sees it.
        let lock = std::fs::File::create(dir.join(".drainer.lock")).expect("lock");
        std::fs::remove_dir_all(&dir).expect("rm");
        assert_eq!(w.wait(Duration::from_secs(5)), Woke::Gone);
        drop(lock);
    }
}

//! Where a path leads, resolved the way the kernel resolves it. The one piece of file-system
//! I/O in this crate (read-only: `lstat` and `readlink`): the server's decisions and the hook's
//! offline fallback must judge a path identically, so both use this definition.

use std::path::{Path, PathBuf};

/// Most symlinks followed while resolving one path (the kernel's limit, `ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// Where `path` leads, resolved the way the kernel resolves it: component by component, each
/// symlink replaced by its target *before* a following `..` is applied (`link/../x` is `x`
/// next to the link's target, not next to the link). Once a component does not exist, the rest
/// is appended as written; a `..` after a missing component cannot be judged (`None`). A
/// dangling symlink is followed to where its target would be created, as a write through it
/// would. `None` also for symlink loops and unreadable directories: the policy then never
/// takes the path to be inside the project.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::path::Component;

    fn parts(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }

    if !path.is_absolute() {
        return None;
    }
    let mut queue = parts(path);
    let mut cur = PathBuf::from("/");
    let mut exists = true;
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            if !exists {
                return None;
            }
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        if !exists {
            cur = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&next).ok()?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                let mut rest = parts(&target);
                rest.extend(queue);
                queue = rest;
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                exists = false;
                cur = next;
            }
            Err(_) => return None,
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::resolve as canonical;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    /// A real tree: `root/proj/{src, link_out -> ../outside, dangling -> ../outside/new.txt}`,
    /// `root/outside/{x}`, `root/proj/loop -> loop`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical temp dir");
        std::fs::create_dir_all(root.join("proj/src")).expect("mkdir");
        std::fs::create_dir_all(root.join("outside/deep")).expect("mkdir");
        std::fs::write(root.join("outside/x"), "x").expect("write");
        symlink(root.join("outside/deep"), root.join("proj/link_out")).expect("symlink");
        symlink("../outside/new.txt", root.join("proj/dangling")).expect("symlink");
        symlink("loop", root.join("proj/loop")).expect("symlink");
        (tmp, root)
    }

    #[test]
    fn symlinks_are_resolved_before_dotdot() {
        let (_tmp, root) = tree();
        // Lexically `proj/x`; the kernel goes to `outside/deep/..` = `outside`.
        let p = root.join("proj/link_out/../x");
        assert_eq!(canonical(&p), Some(root.join("outside/x")));
        let p = root.join("proj/src/../src/a.rs");
        assert_eq!(canonical(&p), Some(root.join("proj/src/a.rs")));
    }

    #[test]
    fn missing_components_and_dangling_links() {
        let (_tmp, root) = tree();
        assert_eq!(
            canonical(&root.join("proj/new/file.rs")),
            Some(root.join("proj/new/file.rs"))
        );
        // `..` after a component that does not exist: unknown.
        assert_eq!(canonical(&root.join("proj/nope/../x")), None);
        // A write through a dangling symlink lands at its target.
        assert_eq!(
            canonical(&root.join("proj/dangling")),
            Some(root.join("outside/new.txt"))
        );
        assert_eq!(canonical(&root.join("proj/loop")), None);
        assert_eq!(canonical(std::path::Path::new("relative")), None);
    }
}

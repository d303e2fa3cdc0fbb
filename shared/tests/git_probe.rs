//! The git probe on real repositories: `git status` is allowed only where git would run no
//! program its configuration names, and the probe itself never runs one.

use maestro_shared::git_probe::{check, Refusal};
use maestro_shared::policy::{EvalContext, GitProbe, Outcome, PathResolver, Policy};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A home with no git configuration, and a place for repositories, under a temp dir.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical");
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("home");
        World {
            _tmp: tmp,
            root,
            home,
        }
    }

    /// `git ARGS` in `dir` with this world's home; panics when git fails.
    fn git(&self, dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", &self.home)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A new repository `name` with one committed file.
    fn repo(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).expect("repo dir");
        self.git(&dir, &["init", "-q"]);
        std::fs::write(dir.join("README.md"), "# r\n").expect("file");
        self.git(&dir, &["add", "README.md"]);
        self.git(
            &dir,
            &[
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.invalid",
                "commit",
                "-qm",
                "first",
            ],
        );
        dir
    }

    /// A program (as a config value) that leaves `marker` behind if anything runs it.
    fn trap(&self, marker: &str) -> String {
        format!("touch {}", self.root.join(marker).display())
    }

    fn ran(&self, marker: &str) -> bool {
        self.root.join(marker).exists()
    }

    fn check(&self, dir: &Path) -> Result<(), Refusal> {
        check(dir, Some(&self.home))
    }

    /// The built-in policy's answer for `command` in `dir` (the project), as the server judges.
    fn decide(&self, dir: &Path, command: &str) -> Outcome {
        let ctx = EvalContext {
            cwd: Some(dir.display().to_string()),
            project_dir: Some(dir.display().to_string()),
            home: Some(self.home.display().to_string()),
            resolver: Some(PathResolver::kernel()),
            git: Some(GitProbe::system()),
            ..Default::default()
        };
        Policy::builtin()
            .evaluate("Bash", &json!({ "command": command }), &ctx)
            .outcome
    }
}

#[test]
fn a_plain_repository_is_allowed() {
    let w = World::new();
    let dir = w.repo("plain");
    assert_eq!(w.check(&dir), Ok(()));
    for cmd in ["git status", "git log --oneline -n 5", "git branch"] {
        assert_eq!(w.decide(&dir, cmd), Outcome::Allow, "{cmd}");
    }
}

#[test]
fn fsmonitor_in_the_repository_is_refused_and_never_run() {
    let w = World::new();
    let dir = w.repo("fsmonitor");
    w.git(&dir, &["config", "core.fsmonitor", &w.trap("ran")]);
    let got = w.check(&dir);
    assert!(
        matches!(&got, Err(Refusal::Key { scope, key, .. }) if scope == "local" && key == "core.fsmonitor"),
        "{got:?}"
    );
    assert!(got.unwrap_err().to_string().contains("core.fsmonitor"));
    assert_eq!(w.decide(&dir, "git status"), Outcome::Ask);
    assert_eq!(w.decide(&dir, "git ls-files"), Outcome::Ask);
    assert!(!w.ran("ran"), "the probe ran the configured program");
}

#[test]
fn a_project_without_its_own_repository_is_judged_by_the_one_git_finds_above() {
    let w = World::new();
    let parent = w.repo("parent");
    w.git(&parent, &["config", "core.fsmonitor", &w.trap("ran")]);
    let project = parent.join("project");
    std::fs::create_dir_all(&project).expect("project");
    assert!(w.check(&project).is_err());
    assert_eq!(w.decide(&project, "git status"), Outcome::Ask);
    // Outside any repository git cannot tell anything: asked.
    let lone = w.root.join("lone");
    std::fs::create_dir_all(&lone).expect("lone");
    assert!(matches!(w.check(&lone), Err(Refusal::Unknown(_))));
    assert!(!w.ran("ran"));
}

#[test]
fn the_users_configuration_and_its_includes_count() {
    let w = World::new();
    let dir = w.repo("global");
    std::fs::write(
        w.home.join(".gitconfig"),
        format!("[core]\n\tfsmonitor = {}\n", w.trap("ran")),
    )
    .expect("gitconfig");
    assert!(
        matches!(w.check(&dir), Err(Refusal::Key { scope, .. }) if scope == "global"),
        "{:?}",
        w.check(&dir)
    );
    // The same key reached through `include.path` from the repository's config.
    std::fs::remove_file(w.home.join(".gitconfig")).expect("rm");
    assert_eq!(w.check(&dir), Ok(()));
    let inc = w.root.join("extra.cfg");
    std::fs::write(&inc, "[diff \"x\"]\n\ttextconv = cat\n").expect("include");
    w.git(
        &dir,
        &["config", "include.path", &inc.display().to_string()],
    );
    assert!(
        matches!(w.check(&dir), Err(Refusal::Key { key, .. }) if key == "diff.x.textconv"),
        "{:?}",
        w.check(&dir)
    );
    assert!(!w.ran("ran"));
}

#[test]
fn hooks_submodules_and_partial_clones_are_refused() {
    let w = World::new();
    // An index refresh writes the index, and that runs `post-index-change`.
    let hooked = w.repo("hooked");
    let hook = hooked.join(".git/hooks/post-index-change");
    std::fs::write(&hook, "#!/bin/sh\n").expect("hook");
    assert!(matches!(w.check(&hooked), Err(Refusal::Hook(_))));
    // ... also where `core.hooksPath` points.
    let husky = w.repo("husky");
    std::fs::create_dir_all(husky.join(".husky")).expect("husky");
    w.git(&husky, &["config", "core.hooksPath", ".husky"]);
    assert_eq!(w.check(&husky), Ok(()), "husky's usual hooks are fine");
    std::fs::write(husky.join(".husky/post-index-change"), "#!/bin/sh\n").expect("hook");
    assert!(matches!(w.check(&husky), Err(Refusal::Hook(_))));

    // A gitlink in the index (an embedded repository added as a submodule, no .gitmodules).
    let outer = w.repo("outer");
    let inner = w.repo("outer/inner");
    w.git(&outer, &["add", "inner"]);
    assert!(inner.join(".git").is_dir());
    assert_eq!(w.check(&outer), Err(Refusal::Submodules));

    let partial = w.repo("partial");
    w.git(&partial, &["config", "extensions.partialClone", "origin"]);
    assert!(w.check(&partial).is_err());
}

#[test]
fn worktrees_and_git_lfs_are_allowed() {
    let w = World::new();
    let main = w.repo("main");
    std::fs::write(
        w.home.join(".gitconfig"),
        "[filter \"lfs\"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n\tprocess = git-lfs filter-process\n\trequired = true\n[core]\n\tpager = delta\n",
    )
    .expect("gitconfig");
    let wt = w.root.join("wt");
    w.git(
        &main,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            &wt.display().to_string(),
        ],
    );
    assert!(wt.join(".git").is_file());
    assert_eq!(w.check(&wt), Ok(()));
    assert_eq!(w.decide(&wt, "git status"), Outcome::Allow);
    // The common config the worktree reads is the main repository's.
    w.git(&main, &["config", "diff.external", &w.trap("ran")]);
    assert!(w.check(&wt).is_err());
    assert!(!w.ran("ran"));
}

#[test]
fn signatures_and_quoted_files_are_the_users_to_configure_not_the_repositorys() {
    let w = World::new();
    let dir = w.repo("signed");
    // The user's own signing program is theirs; a repository naming one is refused.
    std::fs::write(w.home.join(".gitconfig"), "[gpg]\n\tprogram = gpg2\n").expect("gitconfig");
    assert_eq!(w.check(&dir), Ok(()));
    w.git(&dir, &["config", "gpg.program", &w.trap("ran")]);
    assert!(
        matches!(w.check(&dir), Err(Refusal::Key { scope, key, .. }) if scope == "local" && key == "gpg.program"),
        "{:?}",
        w.check(&dir)
    );
    w.git(&dir, &["config", "--unset", "gpg.program"]);
    // A format that checks signatures, wherever it is configured.
    w.git(&dir, &["config", "pretty.mine", "format:%h %+GS"]);
    assert!(w.check(&dir).is_err());
    assert_eq!(w.decide(&dir, "git log --format=mine"), Outcome::Ask);
    w.git(&dir, &["config", "--unset", "pretty.mine"]);
    // GitHub's blame convention, as a plain file only (a link would have blame print the
    // first line of what it leads to).
    w.git(
        &dir,
        &["config", "blame.ignoreRevsFile", ".git-blame-ignore-revs"],
    );
    std::fs::write(dir.join(".git-blame-ignore-revs"), "# none\n").expect("revs");
    assert_eq!(w.check(&dir), Ok(()));
    std::fs::remove_file(dir.join(".git-blame-ignore-revs")).expect("rm");
    std::os::unix::fs::symlink(
        w.home.join(".gitconfig"),
        dir.join(".git-blame-ignore-revs"),
    )
    .expect("link");
    assert!(w.check(&dir).is_err());
    w.git(&dir, &["config", "blame.ignoreRevsFile", ".env"]);
    assert!(w.check(&dir).is_err());
    assert!(!w.ran("ran"));
}

#[test]
fn links_among_gits_own_files_lfs_programs_and_descriptor_includes_are_refused() {
    let w = World::new();
    // git quotes the lines of `shallow`, `packed-refs`, `info/grafts`, a worktree's `locked`
    // in its errors: a link there leaks what it leads to.
    let secret = w.root.join("operator.token");
    std::fs::write(&secret, "mop_SECRET\n").expect("secret");
    for file in [
        "shallow",
        "packed-refs",
        "info/grafts",
        "objects/info/alternates",
    ] {
        let dir = w.repo(&format!("linked-{}", file.replace('/', "-")));
        let at = dir.join(".git").join(file);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(&secret, &at).expect("link");
        assert!(
            matches!(w.check(&dir), Err(Refusal::Linked(p)) if p == at),
            "{file}: {:?}",
            w.check(&dir)
        );
        std::fs::remove_file(&at).expect("rm");
        std::fs::hard_link(&secret, &at).expect("hard link");
        assert!(matches!(w.check(&dir), Err(Refusal::Linked(_))), "{file}");
    }
    // git-lfs's own programs and storage, beside the standard filter.
    let lfs = w.repo("lfs");
    w.git(&lfs, &["config", "lfs.extension.x.clean", &w.trap("ran")]);
    assert!(w.check(&lfs).is_err());
    let store = w.repo("lfs-storage");
    w.git(&store, &["config", "lfs.storage", "/tmp/elsewhere"]);
    assert!(w.check(&store).is_err());
    // An include read from what the command is fed.
    let fed = w.repo("fed");
    w.git(&fed, &["config", "include.path", "/dev/stdin"]);
    assert!(w.check(&fed).is_err());
    assert!(!w.ran("ran"));
}

#[test]
fn a_git_file_naming_another_repository_and_alternates_are_refused() {
    let w = World::new();
    // `.git` as a file naming a repository elsewhere: git would refresh (write) its index.
    let elsewhere = w.repo("elsewhere");
    let project = w.root.join("tarball");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(
        project.join(".git"),
        format!("gitdir: {}\n", elsewhere.join(".git").display()),
    )
    .expect("gitfile");
    assert!(
        matches!(w.check(&project), Err(Refusal::Outside(_))),
        "{:?}",
        w.check(&project)
    );
    // A monorepo's subdirectory (no `.git` of its own) is the repository's own business.
    let sub = elsewhere.join("services").join("api");
    std::fs::create_dir_all(&sub).expect("sub");
    assert_eq!(w.check(&sub), Ok(()));
    // Alternates: more object dirs, whose own files git quotes.
    let alt = w.repo("alternates");
    std::fs::write(
        alt.join(".git/objects/info/alternates"),
        "../../evil/objects\n",
    )
    .expect("alternates");
    assert!(matches!(w.check(&alt), Err(Refusal::Outside(_))));
}

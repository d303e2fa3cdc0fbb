//! The policy corpus through the library: 0 dangerous calls allowed (and every one marked
//! `deny` denied), 0 everyday calls denied, and the share of everyday calls allowed above
//! [`corpus_support::ALLOW_FLOOR`]. Paths resolve on a real tree with symlinks, in the
//! kernel's order through `PathResolver::kernel`, the resolver the server and the hook use;
//! the project is a real git repository, judged by `GitProbe::system`, as the server does.

mod corpus_support;

use corpus_support::{judge, load, Tree, ALLOW_FLOOR};
use maestro_shared::policy::{EvalContext, GitProbe, PathResolver, Policy};

#[test]
fn corpus_through_the_library() {
    let tree = Tree::build(None);
    let ctx = EvalContext {
        cwd: Some(tree.project.display().to_string()),
        project_dir: Some(tree.project.display().to_string()),
        home: Some(tree.home.display().to_string()),
        maestro_data_dir: Some(tree.data.display().to_string()),
        resolver: Some(PathResolver::kernel()),
        git: Some(GitProbe::system()),
        ..Default::default()
    };
    let policy = Policy::builtin();
    let (dangerous, everyday) = load();
    assert!(
        dangerous.len() >= 250,
        "{} dangerous cases",
        dangerous.len()
    );
    assert!(everyday.len() >= 120, "{} everyday cases", everyday.len());
    let run = |cases: Vec<corpus_support::Case>| {
        cases
            .into_iter()
            .map(|c| {
                let d = policy.evaluate(&c.tool, &tree.substitute(&c.input), &ctx);
                (c, d.outcome.as_str().to_string())
            })
            .collect::<Vec<_>>()
    };
    let dangerous = run(dangerous);
    let everyday = run(everyday);
    let (failures, share) = judge(&dangerous, &everyday);
    println!(
        "policy corpus (library): {} dangerous, {} everyday, {:.1}% of everyday calls allowed",
        dangerous.len(),
        everyday.len(),
        share * 100.0
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(share >= ALLOW_FLOOR, "only {:.1}% allowed", share * 100.0);
}

//! Command-line argument helpers: options, clusters, positionals.

use super::words::Word;

/// Whether `a` is a cluster of short options (`-rf`).
pub(super) fn is_short_cluster(a: &str) -> bool {
    a.starts_with('-') && !a.starts_with("--") && a.len() > 1
}

/// Positional arguments (after options; everything after `--`).
pub(super) fn positionals(args: &[Word]) -> Vec<&Word> {
    let mut out = Vec::new();
    let mut done = false;
    for w in args {
        match w.value.as_deref() {
            Some("--") if !done => done = true,
            Some(v) if !done && v.starts_with('-') && v != "-" => {}
            _ => out.push(w),
        }
    }
    out
}

/// Whether a short option cluster contains one of `letters`, or a `long` option is present.
pub(super) fn has_short(args: &[Word], letters: &str, long: &[&str]) -> bool {
    args.iter().filter_map(|w| w.value.as_deref()).any(|a| {
        (is_short_cluster(a) && a[1..].chars().any(|c| letters.contains(c)))
            || long
                .iter()
                .any(|l| a == *l || a.starts_with(&format!("{l}=")))
    })
}

/// Value of option `short` / `long` (`-o FILE`, `--output=FILE`, `--output FILE`).
pub(super) fn option_value<'a>(args: &'a [Word], short: &[&str], long: &[&str]) -> Vec<&'a Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let v = args[i].value.as_deref().unwrap_or_default();
        if short.contains(&v) || long.contains(&v) {
            if let Some(w) = args.get(i + 1) {
                out.push(w);
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    out
}

/// Values of `--long=VALUE` options.
pub(super) fn option_eq_values(args: &[Word], long: &[&str]) -> Vec<Word> {
    args.iter()
        .filter_map(|w| {
            let v = w.value.as_deref()?;
            long.iter().find_map(|l| {
                v.strip_prefix(&format!("{l}=")).map(|rest| Word {
                    raw: rest.to_string(),
                    value: Some(rest.to_string()),
                    tilde: rest.starts_with('~'),
                    substitutions: Vec::new(),
                })
            })
        })
        .collect()
}

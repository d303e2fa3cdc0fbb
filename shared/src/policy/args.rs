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

/// Short options that take a value, parsed the way getopt does: in a cluster (`-sT.env`) each
/// letter is an option until one of `with_value`, which takes the rest of the word or, when
/// the rest is empty, the next word. Returns each such option with its value (a word for an
/// attached value keeps the word's quoting status). Parsing stops at `--`; long options are
/// skipped (their values, if separate, are then read as words: an over-approximation).
pub(super) fn short_option_values(args: &[Word], with_value: &str) -> Vec<(char, Word)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        i += 1;
        let Some(v) = w.value.as_deref() else {
            continue;
        };
        if v == "--" {
            break;
        }
        if !is_short_cluster(v) {
            continue;
        }
        for (pos, c) in v.char_indices().skip(1) {
            if !with_value.contains(c) {
                continue;
            }
            let rest = &v[pos + c.len_utf8()..];
            if rest.is_empty() {
                if let Some(next) = args.get(i) {
                    out.push((c, next.clone()));
                    i += 1;
                }
            } else {
                out.push((c, attached_word(w, rest)));
            }
            break;
        }
    }
    out
}

/// A word for a value attached to an option (`-oFILE`, `--out=FILE`, `@FILE`): literal when
/// the whole word was, unknown (as written) otherwise.
pub(super) fn attached_word(w: &Word, value: &str) -> Word {
    if w.value.is_none() {
        return Word::dynamic(value);
    }
    let mut word = Word::literal(value);
    word.tilde = value.starts_with('~');
    word
}

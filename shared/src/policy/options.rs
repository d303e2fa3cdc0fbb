//! Command-line option parsing the way the programs themselves parse it (GNU `getopt_long`,
//! git's `parse-options`), against an explicit per-program allow list ([`Spec`]).
//!
//! A spec lists every option that is allowed, with its arity and what its value is (text, a
//! file read, a pattern), plus the known unsafe long options (marked refused) so that an
//! abbreviation resolves the way the program resolves it (`--in-pl` is `--in-place`). Anything
//! the spec does not list, an ambiguous abbreviation, or an argument only known at run time
//! makes the parse fail: the command is then not provably read-only.
//!
//! Spec notation, kept compact so each table reads like the manual's synopsis:
//!
//! - `short`: one character per option; a following `:` means it takes a text value, `@` a
//!   file it reads, `%` a pattern (text), `&` a pattern file it reads, `?` an optional text
//!   value that is only ever the rest of its word (`od -w16`, `date -Id`: `od -w F` reads `F`).
//!   `#` allows digits as options (`head -20`).
//! - `long`: `name` a flag; `name=` (text), `name=@`, `name=%`, `name=&` a required value
//!   (`--name=v` or `--name v`); `name?` an optional value (only as `--name=v`); `name!` a
//!   known option that is refused.

use super::words::Word;

/// What the operands (non-option arguments) of a program are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operands {
    /// None allowed.
    None,
    /// Files read.
    Reads,
    /// A pattern or script (unless an option supplied one), then files read.
    PatternThenReads,
    /// Text that names no file (`echo`, revisions, format strings).
    Text,
}

/// The allowed options and operands of one program (or git subcommand).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Short options (notation in the module documentation).
    pub short: &'static str,
    /// Long options (notation in the module documentation).
    pub long: &'static [&'static str],
    /// More long options (a second table shared by several specs).
    pub more_long: &'static [&'static str],
    /// What operands are.
    pub operands: Operands,
    /// Most operands allowed (`uniq IN OUT` writes OUT).
    pub max_operands: usize,
}

/// What a value of an option is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// A flag: no value.
    Flag,
    /// Text.
    Text,
    /// A file read.
    Read,
    /// A pattern text (replaces the pattern operand).
    Pattern,
    /// A pattern file read (replaces the pattern operand).
    PatternRead,
    /// An optional text value, only attached with `=`.
    Optional,
    /// Known and refused.
    Refused,
}

/// The result of a successful parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Files read (operands and option values).
    pub reads: Vec<Word>,
    /// Patterns or scripts (operand or option values), by value.
    pub patterns: Vec<String>,
    /// Text operands.
    pub texts: Vec<String>,
    /// Long options seen, by full name, and short options as `-x`.
    pub options: Vec<String>,
}

fn val_of(marker: Option<char>) -> Val {
    match marker {
        Some(':') => Val::Text,
        Some('@') => Val::Read,
        Some('%') => Val::Pattern,
        Some('&') => Val::PatternRead,
        Some('?') => Val::Optional,
        _ => Val::Flag,
    }
}

/// The kind of short option `c` in `spec`, `None` when not allowed.
fn short_kind(spec: &str, c: char) -> Option<Val> {
    if c.is_ascii_digit() && spec.contains('#') {
        return Some(Val::Flag);
    }
    if matches!(c, ':' | '@' | '%' | '&' | '#' | '?') {
        return None;
    }
    let mut chars = spec.chars().peekable();
    while let Some(x) = chars.next() {
        let marker = chars
            .peek()
            .copied()
            .filter(|m| matches!(m, ':' | '@' | '%' | '&' | '?'));
        if marker.is_some() {
            chars.next();
        }
        if x == c {
            return Some(val_of(marker));
        }
    }
    None
}

/// Splits a long spec entry into its name and kind.
fn long_entry(entry: &str) -> (&str, Val) {
    if let Some(n) = entry.strip_suffix('!') {
        return (n, Val::Refused);
    }
    if let Some(n) = entry.strip_suffix('?') {
        return (n, Val::Optional);
    }
    match entry.split_once('=') {
        Some((n, m)) => (n, val_of(m.chars().next().or(Some(':')))),
        None => (entry, Val::Flag),
    }
}

/// Resolves a long option name as `getopt_long` does: an exact name, else the only option it
/// is a prefix of. `Err` when unknown or ambiguous.
fn resolve_long<'s>(spec: &'s Spec, name: &str) -> Result<(&'s str, Val), String> {
    if name.is_empty() {
        return Err("empty long option".into());
    }
    let entries: Vec<(&str, Val)> = spec
        .long
        .iter()
        .chain(spec.more_long)
        .map(|e| long_entry(e))
        .collect();
    if let Some(exact) = entries.iter().find(|(n, _)| *n == name) {
        return Ok(*exact);
    }
    let matches: Vec<&(&str, Val)> = entries
        .iter()
        .filter(|(n, _)| n.starts_with(name))
        .collect();
    match matches.as_slice() {
        [one] => Ok(**one),
        [] => Err(format!("option `--{name}` is not on the allow list")),
        _ => Err(format!("option `--{name}` is ambiguous")),
    }
}

impl Parsed {
    fn value(&mut self, kind: Val, name: &str, value: &Word) -> Result<(), String> {
        let Some(v) = value.value.clone() else {
            return Err(format!("the value of `{name}` is only known at run time"));
        };
        match kind {
            Val::Read => self.reads.push(value.clone()),
            Val::PatternRead => {
                self.reads.push(value.clone());
                self.patterns.push(String::new());
            }
            Val::Pattern => self.patterns.push(v),
            _ => {}
        }
        Ok(())
    }
}

/// A word for the value attached to an option (`--from-file=F`, `-fF`). A leading `~` is
/// taken to mean home (bash expands `--opt=~/x`; taking it so when it is quoted only makes
/// the path look outside the project, the safe side).
fn tail_word(w: &Word, value: &str) -> Word {
    Word {
        raw: value.to_string(),
        value: Some(value.to_string()),
        tilde: value.starts_with('~') && w.value.is_some(),
        substitutions: Vec::new(),
    }
}

/// Whether any option of `spec` reads a file.
fn reads_files(spec: &Spec) -> bool {
    spec.short.contains(['@', '&'])
        || spec
            .long
            .iter()
            .chain(spec.more_long)
            .any(|l| l.ends_with("=@") || l.ends_with("=&"))
}

/// Parses `args` (after the program name) against `spec`.
pub(crate) fn parse(spec: &Spec, args: &[Word]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut operands: Vec<&Word> = Vec::new();
    let mut i = 0;
    let mut only_operands = false;
    while i < args.len() {
        let w = &args[i];
        i += 1;
        let Some(v) = w.value.as_deref() else {
            if spec.operands == Operands::Text && !reads_files(spec) {
                // Text-only program: whatever the value, it names no file.
                continue;
            }
            return Err(format!("argument `{}` only known at run time", w.raw));
        };
        if only_operands || v == "-" || !v.starts_with('-') {
            operands.push(w);
            continue;
        }
        if v == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = v.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, a)) => (n, Some(a)),
                None => (long, None),
            };
            let (full, kind) = resolve_long(spec, name)?;
            out.options.push(full.to_string());
            match (kind, attached) {
                (Val::Refused, _) => return Err(format!("option `--{full}` is not allowed")),
                (Val::Flag, Some(_)) => {
                    return Err(format!("option `--{full}` takes no value"));
                }
                (Val::Flag | Val::Optional, None) | (Val::Optional, Some(_)) => {}
                (_, Some(a)) => out.value(kind, full, &tail_word(w, a))?,
                (_, None) => {
                    let Some(next) = args.get(i) else {
                        return Err(format!("option `--{full}` needs a value"));
                    };
                    i += 1;
                    out.value(kind, full, next)?;
                }
            }
            continue;
        }
        // A cluster of short options: `-nE`, `-e1e` (value attached), `-n 5`.
        let body = &v[1..];
        for (pos, c) in body.char_indices() {
            let Some(kind) = short_kind(spec.short, c) else {
                return Err(format!("option `-{c}` is not on the allow list"));
            };
            out.options.push(format!("-{c}"));
            if kind == Val::Flag {
                continue;
            }
            let rest = &body[pos + c.len_utf8()..];
            if kind == Val::Optional {
                // The rest of the word, if any, is the value; never the next word.
                break;
            }
            if rest.is_empty() {
                let Some(next) = args.get(i) else {
                    return Err(format!("option `-{c}` needs a value"));
                };
                i += 1;
                out.value(kind, &format!("-{c}"), next)?;
            } else {
                out.value(kind, &format!("-{c}"), &tail_word(w, rest))?;
            }
            break;
        }
    }
    if operands.len() > spec.max_operands {
        return Err("too many operands".into());
    }
    let mut rest = operands.into_iter();
    match spec.operands {
        Operands::None => {
            if rest.next().is_some() {
                return Err("operands are not allowed".into());
            }
        }
        Operands::Text => out.texts.extend(rest.filter_map(|w| w.value.clone())),
        Operands::Reads => out.reads.extend(rest.cloned()),
        Operands::PatternThenReads => {
            if out.patterns.is_empty() {
                match rest.next().and_then(|w| w.value.clone()) {
                    Some(p) => out.patterns.push(p),
                    None => return Err("no pattern".into()),
                }
            }
            out.reads.extend(rest.cloned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        short: "nEe%f&l:#",
        long: &[
            "expression=%",
            "file=&",
            "in-place!",
            "quiet",
            "silent",
            "color?",
            "line-length=",
        ],
        more_long: &[],
        operands: Operands::PatternThenReads,
        max_operands: usize::MAX,
    };

    fn p(args: &[&str]) -> Result<Parsed, String> {
        let words: Vec<Word> = args.iter().map(|a| Word::literal(a)).collect();
        parse(&SPEC, &words)
    }

    #[test]
    fn getopt_long_rules() {
        assert!(p(&["--in-pl", "x"]).is_err());
        assert!(p(&["--i", "x"]).is_err());
        assert_eq!(
            p(&["--expr=1p", "f"]).map(|r| r.patterns),
            Ok(vec!["1p".into()])
        );
        assert_eq!(p(&["--ex", "1p", "f"]).map(|r| r.reads.len()), Ok(1));
        assert!(p(&["--s", "x"]).is_ok());
        assert!(p(&["--qu", "x"]).is_ok());
        assert_eq!(
            p(&["-ne1e", "f"]).map(|r| r.patterns),
            Ok(vec!["1e".into()])
        );
        assert_eq!(p(&["-nf", "script", "x"]).map(|r| r.reads.len()), Ok(2));
        assert!(p(&["-nx", "x"]).is_err());
        assert!(p(&["-20", "x"]).is_ok());
        assert!(p(&["--quiet=1", "x"]).is_err());
        assert!(p(&["--color", "x"]).is_ok());
        assert!(p(&["-l"]).is_err());
        assert_eq!(
            p(&["--", "-x", "y"]).map(|r| r.patterns),
            Ok(vec!["-x".into()])
        );
    }
}

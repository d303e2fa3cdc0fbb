//! Shell words: the static value of a word when it can be known without running anything,
//! and the command substitutions hidden inside it (which run before the command does).

use brush_parser::word::{
    self, Parameter, ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource,
};
use brush_parser::ParserOptions;

/// How a process substitution argument is shown.
const PROCESS_SUBSTITUTION: &str = "<(...)";

/// Deepest nesting of `${...}` / `$((...))` scanned for hidden substitutions.
const MAX_WORD_DEPTH: usize = 8;

/// One expanded shell word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Word {
    /// The word as written.
    pub raw: String,
    /// Its value after quote removal, when it does not depend on run time (variables, command
    /// substitutions). A leading `~` means home only when `tilde` is set.
    pub value: Option<String>,
    /// The value starts with an unquoted `~` or `$HOME`.
    pub tilde: bool,
    /// Command substitutions (`$(...)`, backticks) inside the word, as script text.
    pub substitutions: Vec<String>,
}

impl Word {
    /// A word with a known value (used for synthesised words such as `find -exec` roots).
    pub(crate) fn literal(value: &str) -> Word {
        Word {
            raw: value.to_string(),
            value: Some(value.to_string()),
            tilde: false,
            substitutions: Vec::new(),
        }
    }

    /// A word whose value is only known at run time.
    pub(crate) fn dynamic(raw: &str) -> Word {
        Word {
            raw: raw.to_string(),
            value: None,
            tilde: false,
            substitutions: Vec::new(),
        }
    }

    /// A process substitution argument (`<(cmd)`): bash passes `/dev/fd/63`.
    pub(crate) fn process_substitution() -> Word {
        Word {
            raw: PROCESS_SUBSTITUTION.to_string(),
            value: Some("/dev/fd/63".to_string()),
            tilde: false,
            substitutions: Vec::new(),
        }
    }

    /// Whether the value is only known at run time, or is the output of a process
    /// substitution (as a script to run, that is just as unknown).
    pub(crate) fn is_runtime(&self) -> bool {
        self.value.is_none() || self.raw == PROCESS_SUBSTITUTION
    }

    /// The value, or the raw text for display.
    pub(crate) fn display(&self) -> &str {
        self.value.as_deref().unwrap_or(&self.raw)
    }
}

/// Expands `raw` into a [`Word`]. Errors are word-parse errors (the command is then not
/// understood).
pub(crate) fn expand(raw: &str, opts: &ParserOptions) -> Result<Word, String> {
    let pieces = word::parse(raw, opts).map_err(|e| e.to_string())?;
    let mut st = State {
        raw,
        value: String::new(),
        known: true,
        tilde: false,
        subs: Vec::new(),
    };
    st.pieces(&pieces, opts, 0)?;
    Ok(Word {
        raw: raw.to_string(),
        value: st.known.then_some(st.value),
        tilde: st.tilde,
        substitutions: st.subs,
    })
}

/// Finds the command substitutions in a here-document body that undergoes expansion.
pub(crate) fn heredoc_substitutions(
    body: &str,
    opts: &ParserOptions,
) -> Result<Vec<String>, String> {
    let pieces = word::parse_heredoc(body, opts).map_err(|e| e.to_string())?;
    let mut st = State {
        raw: body,
        value: String::new(),
        known: true,
        tilde: false,
        subs: Vec::new(),
    };
    st.pieces(&pieces, opts, 0)?;
    Ok(st.subs)
}

struct State<'a> {
    raw: &'a str,
    value: String,
    known: bool,
    tilde: bool,
    subs: Vec<String>,
}

impl State<'_> {
    fn pieces(
        &mut self,
        pieces: &[WordPieceWithSource],
        opts: &ParserOptions,
        depth: usize,
    ) -> Result<(), String> {
        for p in pieces {
            self.piece(p, opts, depth)?;
        }
        Ok(())
    }

    fn piece(
        &mut self,
        p: &WordPieceWithSource,
        opts: &ParserOptions,
        depth: usize,
    ) -> Result<(), String> {
        match &p.piece {
            WordPiece::Text(s) => {
                // bash expands `~` after `=` and `:` in an argument that looks like an
                // assignment (`cat x=~/.aws/credentials` reads the home's file).
                let whole = format!("{}{s}", self.value);
                let assignment_like = whole.split_once('=').is_some_and(|(name, _)| {
                    name.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if assignment_like
                    && (s.contains("=~")
                        || s.contains(":~")
                        || (s.starts_with('~') && self.value.ends_with(['=', ':'])))
                {
                    self.known = false;
                }
                self.value.push_str(s);
            }
            WordPiece::SingleQuotedText(s) => self.value.push_str(s),
            WordPiece::AnsiCQuotedText(s) => match decode_ansi_c(s) {
                Some(d) => self.value.push_str(&d),
                None => self.known = false,
            },
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                self.pieces(inner, opts, depth)?;
            }
            WordPiece::TildeExpansion(t) => match t {
                TildeExpr::Home if self.value.is_empty() => {
                    self.tilde = true;
                    self.value.push('~');
                }
                _ => self.known = false,
            },
            WordPiece::ParameterExpansion(expr) => {
                let home = matches!(
                    expr,
                    ParameterExpr::Parameter {
                        parameter: Parameter::Named(n),
                        indirect: false,
                    } if n == "HOME"
                );
                if home && self.value.is_empty() && self.known {
                    self.tilde = true;
                    self.value.push('~');
                } else {
                    self.known = false;
                }
                self.scan_slice(p, opts, depth)?;
            }
            WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
                self.known = false;
                self.subs.push(s.clone());
            }
            WordPiece::EscapeSequence(s) => {
                let escaped = s.strip_prefix('\\').unwrap_or(s);
                if escaped != "\n" {
                    self.value.push_str(escaped);
                }
            }
            WordPiece::ArithmeticExpression(e) => {
                self.known = false;
                self.scan_text(&e.value, opts, depth)?;
            }
        }
        Ok(())
    }

    /// Scans the source text of a `${...}` piece for substitutions hidden in its operands.
    fn scan_slice(
        &mut self,
        p: &WordPieceWithSource,
        opts: &ParserOptions,
        depth: usize,
    ) -> Result<(), String> {
        let Some(slice) = self.raw.get(p.start_index..p.end_index) else {
            // Indices we cannot map back: look at the whole word instead.
            if self.raw.contains("$(") || self.raw.contains('`') {
                return Err("substitution inside an expansion that could not be located".into());
            }
            return Ok(());
        };
        let inner = slice
            .strip_prefix("${")
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or("");
        if inner.contains('\'') && (inner.contains('$') || inner.contains('`')) {
            // Inside double quotes the single quotes of `"${x:-'$(cmd)'}"` are literal and
            // the substitution runs; the quoting context is not tracked here.
            return Err("single quotes around an expansion inside `${...}`".into());
        }
        self.scan_text(inner, opts, depth)
    }

    fn scan_text(&mut self, text: &str, opts: &ParserOptions, depth: usize) -> Result<(), String> {
        if !(text.contains('$') || text.contains('`')) {
            return Ok(());
        }
        if depth >= MAX_WORD_DEPTH {
            return Err("expansions nested too deeply".into());
        }
        let pieces = word::parse(text, opts).map_err(|e| e.to_string())?;
        let mut inner = State {
            raw: text,
            value: String::new(),
            known: true,
            tilde: false,
            subs: Vec::new(),
        };
        inner.pieces(&pieces, opts, depth + 1)?;
        self.subs.append(&mut inner.subs);
        Ok(())
    }
}

/// Decodes the body of `$'...'`; `None` for escapes not handled (the word is then dynamic).
fn decode_ansi_c(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            chars.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                let mut n = 1;
                while n < 3 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Word {
        expand(s, &ParserOptions::default()).unwrap_or_default()
    }

    #[test]
    fn values() {
        assert_eq!(w("r''m").value.as_deref(), Some("rm"));
        assert_eq!(w("\\rm").value.as_deref(), Some("rm"));
        assert_eq!(w("\"a b\"").value.as_deref(), Some("a b"));
        assert_eq!(w("$'\\x72m'").value.as_deref(), Some("rm"));
        let home = w("~/x");
        assert!(home.tilde);
        assert_eq!(home.value.as_deref(), Some("~/x"));
        let home = w("\"$HOME\"/.ssh");
        assert!(home.tilde);
        assert_eq!(home.value.as_deref(), Some("~/.ssh"));
        assert!(!w("'~'").tilde);
        assert_eq!(w("$X").value, None);
        assert_eq!(w("a$(rm -rf /)b").substitutions, vec!["rm -rf /"]);
        assert_eq!(w("${X:-$(rm -rf /)}").substitutions, vec!["rm -rf /"]);
        assert_eq!(w("`ls`").substitutions, vec!["ls"]);
    }
}

//! The search syntax: a tiny language parsed here, never passed through to a database.
//!
//! - `word` finds events whose text has the word (case and accents ignored);
//! - `"two words"` finds the phrase;
//! - `word*` (or `"a phrase"*`) finds words starting with it;
//! - `-word` (or `-"a phrase"`) excludes events that have it;
//! - terms are combined with AND.
//!
//! Characters that are neither letters nor digits separate words inside a term (as the index
//! splits them): `notes.txt` is the phrase `notes txt`, `/etc/passwd` the phrase `etc passwd`.

use std::fmt;

/// Longest accepted query, in characters.
pub const MAX_CHARS: usize = 512;
/// Most terms in a query.
pub const MAX_TERMS: usize = 16;

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    terms: Vec<Term>,
}

/// One term of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The text to find (one word, or several words as a phrase).
    pub text: String,
    /// `word*`: any word starting with the (last) word.
    pub prefix: bool,
    /// `-word`: events with it are left out.
    pub exclude: bool,
}

/// Why a query cannot be run. The message is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `"` without its closing `"`.
    #[error("unterminated quote: the \" at character {0} has no closing \"")]
    Unterminated(usize),
    /// Too long.
    #[error("the search is too long ({0} characters, at most {MAX_CHARS})")]
    TooLong(usize),
    /// Too many terms.
    #[error("too many terms ({0}, at most {MAX_TERMS})")]
    TooManyTerms(usize),
    /// Only exclusions (`-word`): nothing to look for.
    #[error("a search needs a term to find: `-word` only leaves out events that have it")]
    OnlyExclusions,
    /// Terms without a letter or digit (`&&`, `*`).
    #[error("nothing to search for in `{0}`: search for words, numbers or phrases")]
    NothingToSearch(String),
}

impl SearchText {
    /// The terms, in the order typed.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The words the search looks for (not the excluded ones), lowercased, each with whether
    /// it matches as a prefix (the last word of a `word*` term).
    pub fn words(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for t in self.terms.iter().filter(|t| !t.exclude) {
            let words: Vec<&str> = split_words(&t.text).collect();
            for (i, w) in words.iter().enumerate() {
                out.push((w.to_lowercase(), t.prefix && i + 1 == words.len()));
            }
        }
        out
    }

    /// The PostgreSQL `tsquery` text (for `to_tsquery('simple', ...)`): each term's words
    /// (split where the index splits them: ASCII spaces, punctuation and control characters),
    /// lowercased and quoted, a phrase's words joined by `<->`, `:*` on a prefix term's last
    /// word, terms joined by `&`, exclusions as `& !(...)`. Words hold no quote or operator
    /// character, so no user text is read as tsquery syntax.
    pub fn to_tsquery(&self) -> String {
        let phrase = |t: &Term| -> Option<String> {
            let words: Vec<String> = split_words(&t.text)
                .map(|w| format!("'{}'", w.to_lowercase()))
                .collect();
            if words.is_empty() {
                return None;
            }
            let mut p = words.join(" <-> ");
            if t.prefix {
                p.push_str(":*");
            }
            Some(format!("({p})"))
        };
        let find: Vec<String> = self
            .terms
            .iter()
            .filter(|t| !t.exclude)
            .filter_map(phrase)
            .collect();
        let mut out = find.join(" & ");
        for p in self.terms.iter().filter(|t| t.exclude).filter_map(phrase) {
            out.push_str(" & !");
            out.push_str(&p);
        }
        out
    }

    /// The FTS5 expression: every term is a double-quoted FTS5 string (a `"` in it doubled),
    /// so no user text is read as an FTS5 operator, column filter or function.
    pub fn to_fts5(&self) -> String {
        let quote = |t: &Term| {
            let mut s = String::with_capacity(t.text.len() + 3);
            s.push('"');
            for c in t.text.chars() {
                if c == '"' {
                    s.push('"');
                }
                s.push(c);
            }
            s.push('"');
            if t.prefix {
                s.push('*');
            }
            s
        };
        let find: Vec<String> = self
            .terms
            .iter()
            .filter(|t| !t.exclude)
            .map(quote)
            .collect();
        let mut out = format!("({})", find.join(" AND "));
        for t in self.terms.iter().filter(|t| t.exclude) {
            out.push_str(" NOT ");
            out.push_str(&quote(t));
        }
        out
    }
}

/// Whether `c` separates words in the PostgreSQL index (ASCII spaces, punctuation, control
/// characters; the index replaces them with spaces before `to_tsvector`).
fn is_separator(c: char) -> bool {
    c.is_ascii_whitespace() || c.is_ascii_punctuation() || c.is_ascii_control()
}

fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_separator).filter(|w| !w.is_empty())
}

/// `s` lowercased without its accents (`Café` → `cafe`), as the search index compares words.
fn fold(s: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    s.to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect()
}

/// SQLite's `snippet()` for the PostgreSQL store: up to `max_words` words of `text` around
/// the first match, the matching words between [`super::MATCH_START`] and
/// [`super::MATCH_END`], `…` where the text was cut.
pub fn snippet(text: &str, words: &[(String, bool)], max_words: usize) -> String {
    // Byte ranges of the words.
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_separator(c), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    let words: Vec<(String, bool)> = words.iter().map(|(q, p)| (fold(q), *p)).collect();
    let hit = |w: &str| {
        let w = fold(w);
        words.iter().any(|(q, prefix)| {
            if *prefix {
                w.starts_with(q.as_str())
            } else {
                w == *q
            }
        })
    };
    let first = spans
        .iter()
        .position(|&(a, b)| hit(&text[a..b]))
        .unwrap_or(0);
    let max_words = max_words.max(1);
    let from = first
        .saturating_sub(max_words / 4)
        .min(spans.len().saturating_sub(max_words));
    let to = (from + max_words).min(spans.len());
    let Some(&(cut_start, _)) = spans.get(from) else {
        return String::new();
    };
    // The whole text's ends when nothing is cut there.
    let cut_start = if from == 0 { 0 } else { cut_start };
    let cut_end = if to == spans.len() {
        text.len()
    } else {
        spans.get(to - 1).map_or(text.len(), |&(_, b)| b)
    };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = cut_start;
    for &(a, b) in &spans[from..to] {
        out.push_str(&text[at..a]);
        if hit(&text[a..b]) {
            out.push(super::MATCH_START);
            out.push_str(&text[a..b]);
            out.push(super::MATCH_END);
        } else {
            out.push_str(&text[a..b]);
        }
        at = b;
    }
    out.push_str(&text[at..cut_end]);
    if to < spans.len() {
        out.push('…');
    }
    out
}

impl fmt::Display for SearchText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fts5())
    }
}

/// Parses a search. `Ok(None)` for a blank one (every event).
pub fn parse(input: &str) -> Result<Option<SearchText>, QueryError> {
    let n = input.chars().count();
    if n > MAX_CHARS {
        return Err(QueryError::TooLong(n));
    }
    let chars: Vec<char> = input.chars().collect();
    let mut terms = Vec::new();
    let mut skipped = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let exclude = chars[i] == '-' && i + 1 < chars.len() && !chars[i + 1].is_whitespace();
        if exclude {
            i += 1;
        }
        let text: String;
        if chars[i] == '"' {
            let open = i;
            let close = chars[i + 1..]
                .iter()
                .position(|&c| c == '"')
                .map(|p| p + i + 1)
                .ok_or(QueryError::Unterminated(open + 1))?;
            text = chars[open + 1..close].iter().collect();
            i = close + 1;
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            text = chars[start..i].iter().collect();
        }
        let mut prefix = false;
        let mut text = text;
        if i < chars.len() && chars[i] == '*' {
            // `"phrase"*`
            prefix = true;
            i += 1;
        }
        while text.ends_with('*') {
            text.pop();
            prefix = true;
        }
        if !text.chars().any(char::is_alphanumeric) {
            skipped.push(if exclude { format!("-{text}") } else { text });
            continue;
        }
        terms.push(Term {
            text,
            prefix,
            exclude,
        });
    }
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms(terms.len()));
    }
    if terms.is_empty() {
        return match skipped.first() {
            Some(s) => Err(QueryError::NothingToSearch(s.clone())),
            None => Ok(None),
        };
    }
    if terms.iter().all(|t| t.exclude) {
        return Err(QueryError::OnlyExclusions);
    }
    Ok(Some(SearchText { terms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &str) -> String {
        parse(q).expect("parses").expect("not blank").to_fts5()
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        assert_eq!(fts("cargo test"), r#"("cargo" AND "test")"#);
        assert_eq!(
            fts(r#""cargo test" -release"#),
            r#"("cargo test") NOT "release""#
        );
        assert_eq!(fts("migrat* notes.txt"), r#"("migrat"* AND "notes.txt")"#);
        assert_eq!(fts(r#""src/ma"*"#), r#"("src/ma"*)"#);
        assert_eq!(fts("  rm  &&  ls "), r#"("rm" AND "ls")"#);
        assert_eq!(parse("   ").expect("blank"), None);
        assert_eq!(parse("").expect("empty"), None);
    }

    /// FTS5 syntax typed by the user stays text: operators, column filters, parentheses and
    /// quotes inside a word are quoted away.
    #[test]
    fn fts5_syntax_is_quoted() {
        assert_eq!(fts("a OR b"), r#"("a" AND "OR" AND "b")"#);
        assert_eq!(fts("text:foo"), r#"("text:foo")"#);
        assert_eq!(fts("NEAR(a b)"), r#"("NEAR(a" AND "b)")"#);
        assert_eq!(fts(r#"say"hi"#), r#"("say""hi")"#);
        assert_eq!(fts("^start"), r#"("^start")"#);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse(r#"ls "unfinished"#), Err(QueryError::Unterminated(4)));
        assert_eq!(parse("-secret"), Err(QueryError::OnlyExclusions));
        assert_eq!(parse("&& *"), Err(QueryError::NothingToSearch("&&".into())));
        let long = "a".repeat(MAX_CHARS + 1);
        assert_eq!(parse(&long), Err(QueryError::TooLong(MAX_CHARS + 1)));
        let many = (0..=MAX_TERMS)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parse(&many), Err(QueryError::TooManyTerms(MAX_TERMS + 1)));
        for e in [
            QueryError::Unterminated(1),
            QueryError::OnlyExclusions,
            QueryError::NothingToSearch("&&".into()),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    /// Whatever is typed, parsing never panics and a parsed query is made only of quoted terms.
    #[test]
    fn any_input_parses_or_is_refused() {
        let samples = [
            "\"",
            "\"\"",
            "-",
            "- -",
            "*",
            "**a",
            "-\"a",
            "a\"b\"c",
            "\u{202e}x",
            "😀 ok",
            "\0",
            "a-b",
            "--x y",
            "\"a\"*\"b\"",
        ];
        for s in samples {
            if let Ok(Some(q)) = parse(s) {
                for t in q.terms() {
                    assert!(t.text.chars().any(char::is_alphanumeric), "{s:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod snippet_tests {
    use super::*;

    fn marked(s: &str) -> String {
        s.replace(crate::search::MATCH_START, "[")
            .replace(crate::search::MATCH_END, "]")
    }

    /// The PostgreSQL store's snippet marks whole words and prefixes as the index splits
    /// them, keeps the text's own punctuation, and cuts long text around the first match.
    #[test]
    fn snippets_mark_the_words_found_and_cut_around_them() {
        let q = parse("shadow").expect("parse").expect("query");
        assert_eq!(
            marked(&snippet("EACCES: open '/etc/shadow'", &q.words(), 16)),
            "EACCES: open '/etc/[shadow]'"
        );
        let q = parse("\"etc pass\"*").expect("parse").expect("query");
        assert_eq!(
            marked(&snippet("cat /etc/passwd now", &q.words(), 16)),
            "cat /[etc]/[passwd] now"
        );
        let long: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let q = parse("w20").expect("parse").expect("query");
        let s = marked(&snippet(&long.join(" "), &q.words(), 8));
        assert_eq!(s, "…w18 w19 [w20] w21 w22 w23 w24 w25…");
        // Accents do not count, either way (as in the index).
        let q = parse("cafe ZÜRICH").expect("parse").expect("query");
        assert_eq!(
            marked(&snippet("un Café à Zurich", &q.words(), 16)),
            "un [Café] à [Zurich]"
        );
    }
}

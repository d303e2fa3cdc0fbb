//! A small glob matcher for rule patterns (tool names, command lines, paths).
//!
//! Written here instead of pulling `globset` (and `regex`) into the hook binary: rules are few
//! and short, and a hand-written matcher has no compile step at hook start-up.
//!
//! Syntax: `*` (any run of characters; in path mode not `/`), `**` (in path mode: any run of
//! characters including `/`; `**/` also matches nothing), `?` (one character, not `/` in path
//! mode), `[abc]`, `[a-z]`, `[!a-z]`, `{a,b}` alternatives (nestable) and `\` to escape.
//!
//! Matching is a simulation of the pattern automaton (no backtracking), so it is linear in the
//! text length times the pattern length whatever the input.
//! [`intersects`] answers whether two globs can match a common string, which is how a rule
//! pattern is checked against a command argument that is itself a glob (`cat ~/.ssh/*`).

/// Most alternatives `{a,b}` expansion may produce; beyond it the braces stay literal.
const MAX_ALTERNATIVES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    Star,
    /// One character that is neither `.` nor `/` (a shell wildcard starting a file name).
    NotDot,
    GlobStar,
    /// No character: an epsilon edge to the next token and one `n + 1` tokens ahead (`**/` is
    /// `Skip(2) GlobStar '/'`: nothing, or anything ending with `/`).
    Skip(usize),
}

impl Tok {
    fn is_star(&self) -> bool {
        matches!(self, Tok::Star | Tok::GlobStar)
    }

    /// Positions reachable from `i` without consuming a character (one step).
    fn epsilon(&self, i: usize, out: &mut Vec<usize>) {
        match self {
            Tok::Star | Tok::GlobStar => out.push(i + 1),
            Tok::Skip(n) => {
                out.push(i + 1);
                out.push(i + 1 + n);
            }
            _ => {}
        }
    }

    /// Pattern positions reached from `i` by consuming `c` (at most two).
    fn step(&self, i: usize, c: char, path: bool, out: &mut Vec<usize>) {
        match self {
            // Paths compare ASCII letters without case: macOS (and Windows) file systems do,
            // so `.ENV` opens `.env` there.
            Tok::Lit(l) => {
                if *l == c || (path && l.eq_ignore_ascii_case(&c)) {
                    out.push(i + 1);
                }
            }
            Tok::Any => {
                if !(path && c == '/') {
                    out.push(i + 1);
                }
            }
            Tok::Class { negated, items } => {
                if !(path && c == '/') {
                    let within = |c: char| items.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                    let inside = within(c)
                        || (path
                            && (within(c.to_ascii_lowercase()) || within(c.to_ascii_uppercase())));
                    if inside != *negated {
                        out.push(i + 1);
                    }
                }
            }
            Tok::Star => {
                if !(path && c == '/') {
                    out.push(i);
                }
            }
            Tok::NotDot => {
                if c != '.' && c != '/' {
                    out.push(i + 1);
                }
            }
            Tok::GlobStar => out.push(i),
            Tok::Skip(_) => {}
        }
    }

    /// Whether this token may consume some character that is not `/`.
    fn accepts_plain(&self) -> bool {
        match self {
            Tok::Lit(c) => *c != '/',
            _ => true,
        }
    }
}

/// A compiled glob: one token list per `{a,b}` alternative.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glob {
    alternatives: Vec<Vec<Tok>>,
    /// Path mode, every alternative `**/NAME` with no `/` in `NAME`: the name tokens, matched
    /// against the last path component only (same result, much less work).
    names: Option<Vec<Vec<Tok>>>,
    path: bool,
}

impl Glob {
    /// Compiles `pattern`. `path` selects path semantics (`*` stops at `/`).
    pub(crate) fn new(pattern: &str, path: bool) -> Glob {
        let expanded = expand_braces(pattern);
        let alternatives = expanded.iter().map(|alt| tokenize(alt, path)).collect();
        let names = path
            .then(|| {
                expanded
                    .iter()
                    .map(|alt| {
                        let name = alt.strip_prefix("**/")?;
                        (!name.contains('/') && !name.contains("**")).then(|| tokenize(name, path))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        Glob {
            alternatives,
            names,
            path,
        }
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        if let Some(names) = &self.names {
            let last = text.rsplit('/').next().unwrap_or(text);
            return names
                .iter()
                .any(|toks| matches_tokens(toks, last, self.path));
        }
        self.alternatives
            .iter()
            .any(|toks| matches_tokens(toks, text, self.path))
    }

    /// Whether some path below `dir` (a plain path) matches this glob.
    pub(crate) fn matches_below(&self, dir: &str) -> bool {
        let mut escaped = String::with_capacity(dir.len() + 3);
        for c in dir.trim_end_matches('/').chars() {
            if "*?[]{}\\".contains(c) {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped.push_str("/**");
        let theirs = tokenize(&escaped, self.path);
        self.alternatives
            .iter()
            .any(|p| intersects_tokens(p, &theirs, self.path))
    }

    /// Whether some string matches both this glob and `other`, itself read as a shell glob: a
    /// wildcard that starts a file name does not match a leading `.` (bash without `dotglob`).
    pub(crate) fn intersects(&self, other: &str) -> bool {
        let theirs: Vec<Vec<Tok>> = expand_braces(other)
            .iter()
            .flat_map(|alt| shell_variants(alt))
            .map(|alt| tokenize(&alt, self.path))
            .collect();
        self.alternatives
            .iter()
            .any(|p| theirs.iter().any(|t| intersects_tokens(p, t, self.path)))
    }
}

/// Marks file-name-leading wildcards of a shell glob with [`NOT_DOT`]: `*x` becomes `¬*x` (one
/// non-dot character, then anything) or `x` (empty; only when `x` does not start with `.`),
/// and `?x` becomes `¬x`.
fn shell_variants(glob: &str) -> Vec<String> {
    let mut variants = vec![String::new()];
    for (k, comp) in glob.split('/').enumerate() {
        let sep = if k == 0 { "" } else { "/" };
        let options: Vec<String> = if let Some(rest) = comp.strip_prefix('*') {
            let rest = rest.trim_start_matches('*');
            let mut o = vec![format!("{NOT_DOT}*{rest}")];
            if !rest.starts_with('.') {
                o.push(rest.to_string());
            }
            o
        } else if let Some(rest) = comp.strip_prefix('?') {
            vec![format!("{NOT_DOT}{rest}")]
        } else {
            vec![comp.to_string()]
        };
        let mut next = Vec::new();
        for v in &variants {
            for o in &options {
                next.push(format!("{v}{sep}{o}"));
            }
        }
        variants = next;
        if variants.len() > MAX_ALTERNATIVES {
            return vec![glob.to_string()];
        }
    }
    variants
}

/// Stands for [`Tok::NotDot`] in shell-glob variants.
const NOT_DOT: char = '\u{2}';

/// Whether `text` contains glob metacharacters (`*`, `?`, `[`).
pub(crate) fn has_glob_chars(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Whether glob `pattern` matches `text` (path semantics when `path`).
pub(crate) fn glob_match(pattern: &str, text: &str, path: bool) -> bool {
    Glob::new(pattern, path).is_match(text)
}

/// Expands `{a,b}` alternatives (nested, escaped braces kept). Gives up (returns the input) past
/// [`MAX_ALTERNATIVES`].
pub(crate) fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out);
    if out.len() > MAX_ALTERNATIVES {
        return vec![pattern.to_string()];
    }
    out
}

fn expand_into(pattern: &str, out: &mut Vec<String>) {
    if out.len() > MAX_ALTERNATIVES {
        return;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let Some((open, close, commas)) = find_brace_group(&chars) else {
        out.push(pattern.to_string());
        return;
    };
    let prefix: String = chars[..open].iter().collect();
    let suffix: String = chars[close + 1..].iter().collect();
    let mut start = open + 1;
    for end in commas.into_iter().chain(std::iter::once(close)) {
        let middle: String = chars[start..end].iter().collect();
        expand_into(&format!("{prefix}{middle}{suffix}"), out);
        start = end + 1;
    }
}

/// The first top-level `{...}` group that contains a top-level comma: (open, close, commas).
fn find_brace_group(chars: &[char]) -> Option<(usize, usize, Vec<usize>)> {
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                let mut depth = 0usize;
                let mut commas = Vec::new();
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '{' => depth += 1,
                        '}' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                if !commas.is_empty() {
                                    return Some((i, j, commas));
                                }
                                break;
                            }
                        }
                        ',' if depth == 1 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn tokenize(pattern: &str, path: bool) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                if let Some(next) = chars.get(i + 1) {
                    toks.push(Tok::Lit(*next));
                    i += 1;
                } else {
                    toks.push(Tok::Lit('\\'));
                }
            }
            '*' => {
                let double = chars.get(i + 1) == Some(&'*');
                if double && path {
                    let at_start = i == 0 || chars[i - 1] == '/';
                    let slash_after = chars.get(i + 2) == Some(&'/');
                    if at_start && slash_after {
                        toks.push(Tok::Skip(2));
                        toks.push(Tok::GlobStar);
                        toks.push(Tok::Lit('/'));
                        i += 2;
                    } else {
                        toks.push(Tok::GlobStar);
                        i += 1;
                    }
                } else {
                    if !toks.last().is_some_and(Tok::is_star) {
                        toks.push(Tok::Star);
                    }
                    if double {
                        i += 1;
                    }
                }
            }
            '?' => toks.push(Tok::Any),
            NOT_DOT => toks.push(Tok::NotDot),
            '[' => match parse_class(&chars, i) {
                Some((tok, end)) => {
                    toks.push(tok);
                    i = end;
                }
                None => toks.push(Tok::Lit('[')),
            },
            _ => toks.push(Tok::Lit(c)),
        }
        i += 1;
    }
    toks
}

/// Parses `[...]` starting at `start`; returns the token and the index of `]`.
fn parse_class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let first = i;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && i > first {
            return Some((Tok::Class { negated, items }, i));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            let hi = chars.get(i + 2).copied().unwrap_or(c);
            items.push((c, hi));
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
    None
}

/// Adds the epsilon closure to a state set (epsilon edges only go forward, so one ascending
/// pass is enough).
fn closure(toks: &[Tok], set: &mut [bool]) {
    for (i, tok) in toks.iter().enumerate() {
        if !set[i] {
            continue;
        }
        match tok {
            Tok::Star | Tok::GlobStar => set[i + 1] = true,
            Tok::Skip(n) => {
                set[i + 1] = true;
                if let Some(slot) = set.get_mut(i + 1 + n) {
                    *slot = true;
                }
            }
            _ => {}
        }
    }
}

fn matches_tokens(toks: &[Tok], text: &str, path: bool) -> bool {
    let mut states = vec![false; toks.len() + 1];
    let mut next = vec![false; toks.len() + 1];
    let mut reached = Vec::with_capacity(2);
    states[0] = true;
    closure(toks, &mut states);
    for c in text.chars() {
        next.fill(false);
        let mut any = false;
        for (i, tok) in toks.iter().enumerate() {
            if !states[i] {
                continue;
            }
            reached.clear();
            tok.step(i, c, path, &mut reached);
            for &r in &reached {
                if let Some(slot) = next.get_mut(r) {
                    *slot = true;
                    any = true;
                }
            }
        }
        if !any {
            return false;
        }
        closure(toks, &mut next);
        std::mem::swap(&mut states, &mut next);
    }
    states[toks.len()]
}

/// Emptiness check of the product of two glob automata (classes are over-approximated).
fn intersects_tokens(p: &[Tok], t: &[Tok], path: bool) -> bool {
    let width = t.len() + 1;
    let mut seen = vec![false; (p.len() + 1) * width];
    let mut stack = vec![(0usize, 0usize)];
    let mut ps = Vec::new();
    let mut ts = Vec::new();
    while let Some((i, j)) = stack.pop() {
        let idx = i * width + j;
        if seen[idx] {
            continue;
        }
        seen[idx] = true;
        if i == p.len() && j == t.len() {
            return true;
        }
        let push = |a: usize, b: usize, stack: &mut Vec<(usize, usize)>| {
            if !seen[a * width + b] {
                stack.push((a, b));
            }
        };
        let mut eps = Vec::new();
        if let Some(tok) = p.get(i) {
            tok.epsilon(i, &mut eps);
            for a in eps.drain(..) {
                push(a, j, &mut stack);
            }
        }
        if let Some(tok) = t.get(j) {
            tok.epsilon(j, &mut eps);
            for b in eps.drain(..) {
                push(i, b, &mut stack);
            }
        }
        let (Some(pt), Some(tt)) = (p.get(i), t.get(j)) else {
            continue;
        };
        let mut candidates = Vec::with_capacity(2);
        match (pt, tt) {
            (Tok::Lit(c), _) | (_, Tok::Lit(c)) => candidates.push(*c),
            _ => {
                if pt.accepts_plain() && tt.accepts_plain() {
                    candidates.push('\u{1}');
                }
                candidates.push('/');
            }
        }
        for c in candidates {
            ps.clear();
            ts.clear();
            match pt {
                Tok::Class { .. } if c == '\u{1}' => ps.push(i + 1),
                _ => pt.step(i, c, path, &mut ps),
            }
            match tt {
                Tok::Class { .. } if c == '\u{1}' => ts.push(j + 1),
                _ => tt.step(j, c, path, &mut ts),
            }
            for &a in &ps {
                for &b in &ts {
                    if (a, b) != (i, j) {
                        push(a, b, &mut stack);
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!(glob_match("mcp__*", "mcp__github__create", false));
        assert!(glob_match("kubectl *", "kubectl apply -f x.yaml", false));
        assert!(!glob_match("kubectl *", "kubectl", false));
        assert!(glob_match("**/.env*", "/home/u/p/.env.local", true));
        assert!(glob_match("**/.env*", ".env", true));
        assert!(!glob_match("/home/*/x", "/home/u/v/x", true));
        assert!(glob_match("/home/**/x", "/home/u/v/x", true));
        assert!(glob_match("/home/**/x", "/home/x", true));
        assert!(glob_match("{Write,Edit}", "Edit", false));
        assert!(glob_match("[!a]b", "cb", false));
        assert!(!glob_match("[!a]b", "ab", false));
        assert!(glob_match("/p/**", "/p/a/b", true));
        assert!(glob_match("a\\*", "a*", false));
        assert!(!glob_match("a\\*", "ab", false));
    }

    #[test]
    fn intersections() {
        let g = Glob::new("**/operator.token", true);
        assert!(g.intersects("/h/.local/share/maestro/*.token"));
        assert!(g.intersects("/h/.local/share/maestro/*"));
        assert!(!g.intersects("/h/.local/share/maestro/*.db"));
        let g = Glob::new("/h/.ssh/**", true);
        assert!(g.intersects("/h/.ss?/authorized_keys"));
        assert!(!g.intersects("/h/p/*"));
        let g = Glob::new("**/.env.*", true);
        assert!(!g.intersects("/p/*.o"));
        assert!(g.intersects("/p/.env*"));
        assert!(!Glob::new("**/.env", true).intersects("/p/*"));
        assert!(Glob::new("/h/.local/share/maestro/**", true).matches_below("/h/.local"));
        assert!(!Glob::new("/h/.local/share/maestro/**", true).matches_below("/h/p"));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("a{b,c}d"), vec!["abd", "acd"]);
        assert_eq!(expand_braces("{x}"), vec!["{x}"]);
        assert_eq!(expand_braces("{a,{b,c}}"), vec!["a", "b", "c"]);
    }
}

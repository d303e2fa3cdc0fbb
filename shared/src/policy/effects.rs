//! The files simple commands read, write and delete: `find` (with `-delete` and `-exec`), the
//! read-only readers, and the common file-changing programs (`rm`, `cp`, `mv`, `tee`, `dd`, ...).

use super::args::{
    attached_word, has_short, is_short_cluster, option_eq_values, option_value, positionals,
    short_option_values,
};
use super::commands::{derived, effect, interpret, Analyzed, EffectKind};
use super::paths::CwdState;
use super::readonly::{self, Classified};
use super::shell::RawCommand;
use super::words::Word;

/// Path component standing for "some directories below" (not a glob: it matches no protected
/// name, and keeps the path inside its root).
const UNKNOWN_DIRS: &str = "…";

/// `find`: roots are read; `-delete` deletes them recursively; `-exec` runs a command on them.
pub(super) fn find(
    raw: &RawCommand,
    a: &mut Analyzed,
    args: &[Word],
    depth: usize,
    out: &mut Vec<Analyzed>,
) {
    let cwd = raw.cwd.clone();
    let mut roots: Vec<Word> = args
        .iter()
        .take_while(|w| {
            w.value
                .as_deref()
                .is_none_or(|v| !(v.starts_with('-') || v == "(" || v == "!" || v == ")"))
        })
        .cloned()
        .collect();
    let expr_start = roots.len();
    if roots.is_empty() {
        roots.push(Word::literal("."));
    }
    for r in &roots {
        a.effects.extend(effect(EffectKind::Read, r, &cwd, false));
    }
    // What -delete and -exec act on: files somewhere below each root (`…` stands for the
    // unknown directories), named by the `-name` test when there is exactly one.
    let names: Vec<&str> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(t, _)| matches!(t.value.as_deref(), Some("-name" | "-iname")))
        .filter_map(|(_, n)| n.value.as_deref())
        .collect();
    let alternatives = args
        .iter()
        .any(|w| matches!(w.value.as_deref(), Some("-o" | "-or" | ",")));
    let leaf = match (names.as_slice(), alternatives) {
        ([name], false) if !name.contains('/') => format!("/{UNKNOWN_DIRS}/{name}"),
        _ => format!("/{UNKNOWN_DIRS}"),
    };
    let below: Vec<Word> = roots
        .iter()
        .map(|r| match &r.value {
            Some(v) => {
                let mut w = Word::literal(&format!("{}{leaf}", v.trim_end_matches('/')));
                w.tilde = r.tilde;
                w
            }
            None => r.clone(),
        })
        .collect();
    let classified = readonly::classify("find", args);
    a.role = classified.role;
    for w in &classified.reads {
        a.effects.extend(effect(EffectKind::Read, w, &cwd, false));
    }
    let mut i = expr_start;
    while i < args.len() {
        let v = args[i].value.as_deref().unwrap_or_default();
        match v {
            "-delete" => {
                for r in &below {
                    a.effects.extend(effect(EffectKind::Delete, r, &cwd, true));
                }
            }
            "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                if let Some(w) = args.get(i + 1) {
                    a.effects.extend(effect(EffectKind::Write, w, &cwd, false));
                }
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let end = args[i + 1..]
                    .iter()
                    .position(|w| matches!(w.value.as_deref(), Some(";" | "+")))
                    .map_or(args.len(), |p| i + 1 + p);
                let template = &args[i + 1..end];
                if template.is_empty() {
                    a.problem = Some("find -exec without a command".into());
                }
                for root in &below {
                    let argv: Vec<Word> = template
                        .iter()
                        .map(|w| match w.value.as_deref() {
                            Some("{}") => root.clone(),
                            Some(v) if v.contains("{}") => Word::dynamic(&w.raw),
                            _ => w.clone(),
                        })
                        .collect();
                    if !argv.is_empty() {
                        interpret(&derived(raw, argv, cwd.clone()), depth + 1, out);
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Files read by a reader: what its option parse found, and the working directory itself.
pub(super) fn reader_effects(a: &mut Analyzed, classified: &Classified, cwd: &CwdState) {
    for w in classified
        .reads
        .iter()
        .chain(std::iter::once(&Word::literal(".")))
    {
        a.effects
            .extend(effect(EffectKind::Read, w, cwd, classified.recursive));
    }
}

/// curl's short options that take a value (curl 8 curl(1)): in a cluster the first of them
/// takes the rest of the word (`-sT.env` uploads `.env`).
const CURL_SHORT_WITH_VALUE: &str = "AbcCdDeEFhHKmoPQrtTuUwxXyYz";

/// Files `curl` / `wget` send (curl 8 curl(1): `-d @f`, `--data-binary @f`, `-F x=@f`,
/// `-F x=<f`, `-H @f`, `--json @f`, `--url-query @f`, `-T f`, `--upload-file f`, `-K f`,
/// `-b f` (a cookie file); wget 1.21: `--post-file`, `--body-file`, `-i` / `--input-file`
/// (its lines become requests)). Short options are parsed as getopt clusters; long options
/// match their unambiguous abbreviations. Any `@` in a curl argument is taken as a file
/// (over-approximation: `user@host` names a file `host` inside the project, harmless).
fn uploads(program: &str, args: &[Word]) -> Vec<Word> {
    let mut out = Vec::new();
    let long_prefix = |v: &str, full: &str, min: usize| {
        let name = v.split('=').next().unwrap_or(v);
        name.len() >= min && full.starts_with(name)
    };
    let long_file_option = |v: &str| {
        if program == "curl" {
            long_prefix(v, "--upload-file", 5) || long_prefix(v, "--config", 4)
        } else {
            long_prefix(v, "--post-file", 7)
                || long_prefix(v, "--body-file", 7)
                || long_prefix(v, "--input-file", 3)
        }
    };
    let short_files = if program == "curl" { "TKb" } else { "i" };
    let short_with_value = if program == "curl" {
        CURL_SHORT_WITH_VALUE
    } else {
        "aAbBeiIoOPDtTwXQ"
    };
    // wget `-e CMD` / `--execute=CMD` runs a wgetrc command: `post_file=F`, `body_file=F`,
    // `input=F` send a file (wgetrc names ignore case, `_` and `-`).
    let wgetrc_file = |cmd: &str| -> Option<String> {
        let (key, value) = cmd.split_once('=')?;
        let key: String = key
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        matches!(key.as_str(), "postfile" | "bodyfile" | "input").then(|| value.trim().to_string())
    };
    for (c, value) in short_option_values(args, short_with_value) {
        let cookie_data = c == 'b' && value.value.as_deref().is_some_and(|v| v.contains('='));
        if short_files.contains(c) && !cookie_data {
            out.push(value);
        } else if program == "wget" && c == 'e' {
            if let Some(f) = value.value.as_deref().and_then(wgetrc_file) {
                out.push(attached_word(&value, &f));
            }
        }
    }
    if program == "wget" {
        for w in option_value(args, &[], &["--execute"])
            .into_iter()
            .cloned()
            .chain(option_eq_values(args, &["--execute"]))
        {
            if let Some(f) = w.value.as_deref().and_then(wgetrc_file) {
                out.push(attached_word(&w, &f));
            }
        }
    }
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        let v = w.value.as_deref().unwrap_or(&w.raw);
        i += 1;
        if v.starts_with("--") {
            match v.split_once('=') {
                Some((name, value)) if long_file_option(name) => {
                    out.push(attached_word(w, value));
                }
                None if long_file_option(v) => {
                    if let Some(next) = args.get(i) {
                        out.push(next.clone());
                        i += 1;
                    }
                    continue;
                }
                _ => {}
            }
        }
        if program == "curl" {
            let at = v.find('@').map(|p| p + 1);
            let lt = v.find("=<").map(|p| p + 2);
            for start in [at, lt].into_iter().flatten() {
                let path = v[start..].split(';').next().unwrap_or_default();
                if !path.is_empty() && path != "-" {
                    out.push(attached_word(w, path));
                }
            }
        }
    }
    out
}

/// Files sent by HTTPie (`http`, `https`) and `xh` request items (httpie 3 docs, xh 0.22
/// README): `@file` (the body), `field=@file`, `field:=@file`, `field@file` (a form upload),
/// `header:@file`, plus `--session` / `--session-read-only` files are not sent. Any `@` in an
/// argument after the method and URL is taken as a file.
fn httpie_uploads(args: &[Word]) -> Vec<Word> {
    positionals(args)
        .into_iter()
        .filter_map(|w| {
            let v = w.value.as_deref().unwrap_or(&w.raw);
            let path = &v[v.find('@')? + 1..];
            (!path.is_empty() && !v.contains("://")).then(|| attached_word(w, path))
        })
        .collect()
}

/// Files forge clients (`gh`, `glab`) send from their options: `-F key=@file` / `--field`
/// (gh api), `-F file` / `--body-file`, `--notes-file`, `--description-file`, `--input`, and
/// any other `--*-file` option (gh 2 manual, glab 1 manual).
fn forge_uploads(args: &[Word]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        let v = w.value.as_deref().unwrap_or(&w.raw);
        i += 1;
        let (name, attached) = match v.split_once('=') {
            Some((n, val)) if n.starts_with("--") => (n, Some(val)),
            _ if v.starts_with("-F") && v.len() > 2 => ("-F", Some(&v[2..])),
            _ => (v, None),
        };
        let file_option = name == "--input" || (name.starts_with("--") && name.ends_with("-file"));
        if !(file_option || matches!(name, "-F" | "--field")) {
            continue;
        }
        let value = match attached {
            Some(val) => attached_word(w, val),
            None => match args.get(i) {
                Some(next) => {
                    i += 1;
                    next.clone()
                }
                None => continue,
            },
        };
        let text = value.value.clone();
        match text
            .as_deref()
            .and_then(|t| t.find("=@").map(|p| &t[p + 2..]))
        {
            Some(path) => out.push(attached_word(&value, path)),
            None if file_option || text.as_deref().is_none_or(|t| !t.contains('=')) => {
                out.push(value)
            }
            None => {}
        }
    }
    out
}

/// Files attached by mail clients: `mail -A f` / `--attach=f` (GNU mailutils), `mailx -a f`,
/// `s-nail -a f`, `mutt -a f...` (mutt takes files until `--`).
fn mail_attachments(program: &str, args: &[Word]) -> Vec<Word> {
    let mut out: Vec<Word> = short_option_values(args, "aAsbcrSFqiuf")
        .into_iter()
        .filter(|(c, _)| matches!(c, 'a' | 'A'))
        .map(|(_, w)| w)
        .collect();
    out.extend(option_value(args, &[], &["--attach"]).into_iter().cloned());
    out.extend(option_eq_values(args, &["--attach"]));
    if program == "mutt" {
        if let Some(start) = args.iter().position(|w| w.value.as_deref() == Some("-a")) {
            out.extend(
                args[start + 1..]
                    .iter()
                    .take_while(|w| w.value.as_deref() != Some("--"))
                    .cloned(),
            );
        }
    }
    out
}

/// Writes and deletes of the common file-changing programs.
pub(super) fn file_effects(program: &str, a: &mut Analyzed, args: &[Word], cwd: &CwdState) {
    let pos = positionals(args);
    let mut add = |kind: EffectKind, w: &Word, recursive: bool| {
        a.effects.extend(effect(kind, w, cwd, recursive));
    };
    match program {
        "rm" => {
            let recursive = has_short(args, "rR", &["--recursive"]);
            for w in &pos {
                add(EffectKind::Delete, w, recursive);
            }
        }
        "rmdir" | "unlink" | "shred" => {
            for w in &pos {
                add(EffectKind::Delete, w, false);
            }
        }
        "cp" | "mv" | "install" | "ln" | "rsync" | "scp" => {
            let local = |w: &Word| {
                !(matches!(program, "rsync" | "scp")
                    && w.value.as_deref().is_some_and(|v| {
                        v.split('/').next().is_some_and(|head| head.contains(':'))
                    }))
            };
            let explicit: Vec<Word> = option_value(args, &["-t"], &["--target-directory"])
                .into_iter()
                .cloned()
                .chain(option_eq_values(args, &["--target-directory"]))
                .collect();
            let (dest, sources): (Vec<&Word>, Vec<&Word>) = if !explicit.is_empty() {
                (
                    explicit.iter().collect(),
                    pos.iter()
                        .copied()
                        .filter(|w| !explicit.contains(w))
                        .collect(),
                )
            } else if pos.len() >= 2 || program != "ln" {
                match pos.split_last() {
                    Some((last, rest)) => (vec![*last], rest.to_vec()),
                    None => (Vec::new(), Vec::new()),
                }
            } else {
                (Vec::new(), pos.clone())
            };
            let recursive_copy = has_short(args, "rRa", &["--recursive", "--archive"]);
            let to_remote = matches!(program, "rsync" | "scp") && pos.iter().any(|w| !local(w));
            for w in dest.iter().copied().filter(|w| local(w)) {
                add(EffectKind::Write, w, recursive_copy || program == "mv");
                if program == "rsync"
                    && has_short(
                        args,
                        "",
                        &[
                            "--delete",
                            "--delete-after",
                            "--delete-before",
                            "--delete-during",
                            "--delete-excluded",
                        ],
                    )
                {
                    add(EffectKind::Delete, w, true);
                }
            }
            for w in sources.iter().copied().filter(|w| local(w)) {
                if program == "mv" {
                    // Moved away: a delete of the source (not recursive, so that `mv "$f" x`
                    // is asked rather than denied; `mv ~ x` is still a write outside).
                    add(EffectKind::Delete, w, false);
                } else if to_remote {
                    add(EffectKind::Upload, w, recursive_copy);
                } else {
                    // `ln`: a link to a protected file reads it (through the link, later).
                    add(EffectKind::Read, w, recursive_copy);
                }
            }
        }
        "tee" | "touch" | "mkdir" | "truncate" | "mkfifo" | "mknod" | "sponge" => {
            for w in &pos {
                add(EffectKind::Write, w, false);
            }
        }
        "chmod" | "chown" | "chgrp" => {
            let recursive = has_short(args, "R", &["--recursive"]);
            let skip = usize::from(!args.iter().any(|w| {
                w.value
                    .as_deref()
                    .is_some_and(|v| v.starts_with("--reference"))
            }));
            for w in pos.iter().skip(skip) {
                add(EffectKind::Write, w, recursive);
            }
        }
        "dd" => {
            for w in args {
                if let Some(v) = w.value.as_deref() {
                    if let Some(path) = v.strip_prefix("of=") {
                        add(EffectKind::Write, &Word::literal(path), false);
                    } else if let Some(path) = v.strip_prefix("if=") {
                        add(EffectKind::Read, &Word::literal(path), false);
                    }
                }
            }
        }
        "sed" => {
            let explicit = has_short(args, "ef", &["--expression", "--file"]);
            let in_place = args
                .iter()
                .filter_map(|w| w.value.as_deref())
                .any(|v| v.starts_with("--in-place") || (is_short_cluster(v) && v.contains('i')));
            if in_place {
                for w in pos.iter().skip(usize::from(!explicit)) {
                    add(EffectKind::Write, w, false);
                }
            }
        }
        "sort" => {
            // `-o F`, `-oF`, `--output F`, `--output=F` and any abbreviation (`--o=F`).
            let mut i = 0;
            while i < args.len() {
                let v = args[i].value.as_deref().unwrap_or_default();
                i += 1;
                let name = v.split('=').next().unwrap_or(v);
                let long = name.len() >= 3 && "--output".starts_with(name);
                if long {
                    match v.split_once('=') {
                        Some((_, f)) => {
                            add(EffectKind::Write, &attached_word(&args[i - 1], f), false)
                        }
                        None => {
                            if let Some(w) = args.get(i) {
                                add(EffectKind::Write, w, false);
                                i += 1;
                            }
                        }
                    }
                } else if is_short_cluster(v) {
                    if let Some(pos) = v.find('o') {
                        let rest = &v[pos + 1..];
                        if rest.is_empty() {
                            if let Some(w) = args.get(i) {
                                add(EffectKind::Write, w, false);
                                i += 1;
                            }
                        } else {
                            add(EffectKind::Write, &attached_word(&args[i - 1], rest), false);
                        }
                    }
                }
            }
        }
        "uniq" => {
            if let Some(w) = pos.get(1) {
                add(EffectKind::Write, w, false);
            }
        }
        "curl" | "wget" => {
            // curl: `-o F`, `-D F` (headers), `-c F` (cookie jar); wget: `-O F`, `-o F` /
            // `-a F` (logs).
            let (with_value, writes) = if program == "curl" {
                (CURL_SHORT_WITH_VALUE, "oDc")
            } else {
                ("aAbBeiIoOPDtTwXQ", "Ooa")
            };
            for (c, w) in short_option_values(args, with_value) {
                if writes.contains(c) {
                    add(EffectKind::Write, &w, false);
                }
            }
            let long = [
                "--output",
                "--output-document",
                "--dump-header",
                "--cookie-jar",
                "--trace",
                "--trace-ascii",
                "--stderr",
                "--output-file",
                "--append-output",
            ];
            for w in option_value(args, &[], &long) {
                add(EffectKind::Write, w, false);
            }
            for w in option_eq_values(args, &long) {
                add(EffectKind::Write, &w, false);
            }
            for w in uploads(program, args) {
                add(EffectKind::Upload, &w, false);
            }
        }
        "http" | "https" | "xh" | "xhs" => {
            for w in httpie_uploads(args) {
                add(EffectKind::Upload, &w, false);
            }
            for w in option_value(args, &["-o"], &["--output"]) {
                add(EffectKind::Write, w, false);
            }
            for w in option_eq_values(args, &["--output"]) {
                add(EffectKind::Write, &w, false);
            }
        }
        "mail" | "mailx" | "s-nail" | "mutt" | "neomutt" => {
            for w in mail_attachments(program, args) {
                add(EffectKind::Upload, &w, false);
            }
        }
        "ssh-keygen" => {
            // `-f F` names the key written (generation, `-p`, `-c`, `-R`, `-H`) unless the mode
            // only reads it (`-l` fingerprint, `-y` public key, `-B`, `-F` search, `-e`
            // export) (OpenSSH 9 ssh-keygen(1)).
            let reads_only = has_short(args, "lyBFe", &[]);
            for (_, w) in short_option_values(args, "abCDEfFgIJjKmMnNOPrRsStUwzZ")
                .into_iter()
                .filter(|(c, _)| *c == 'f')
            {
                let kind = if reads_only {
                    EffectKind::Read
                } else {
                    EffectKind::Write
                };
                add(kind, &w, false);
            }
        }
        "tar" => {
            let flags: String = args
                .iter()
                .filter_map(|w| w.value.as_deref())
                .take(1)
                .filter(|v| !v.starts_with("--"))
                .map(|v| v.trim_start_matches('-').to_string())
                .chain(
                    args.iter()
                        .skip(1)
                        .filter_map(|w| w.value.as_deref())
                        .filter(|v| is_short_cluster(v))
                        .map(|v| v[1..].to_string()),
                )
                .collect();
            let extract = flags.contains('x') || has_short(args, "", &["--extract", "--get"]);
            let create = flags.contains('c')
                || flags.contains('r')
                || flags.contains('u')
                || args.iter().filter_map(|w| w.value.as_deref()).any(|v| {
                    [
                        "--create", "--append", "--update", "--cre", "--app", "--upd",
                    ]
                    .iter()
                    .any(|l| v.starts_with(l))
                });
            if create {
                // Every operand (and the archive name: harmless) is read, whole trees.
                let traditional = args
                    .first()
                    .and_then(|w| w.value.as_deref())
                    .is_some_and(|v| !v.starts_with('-'));
                for w in pos.iter().skip(usize::from(traditional)) {
                    add(EffectKind::Read, w, true);
                }
            }
            if extract {
                let dirs: Vec<Word> = option_value(args, &["-C"], &["--directory"])
                    .into_iter()
                    .cloned()
                    .chain(option_eq_values(args, &["--directory"]))
                    .collect();
                if dirs.is_empty() {
                    add(EffectKind::Write, &Word::literal("."), true);
                }
                for d in &dirs {
                    add(EffectKind::Write, d, true);
                }
            }
        }
        // Uploads by cloud and forge clients: `gh gist create F`, `gh release upload T F`,
        // `gh api --input F`, `aws s3 cp F s3://...`, `gsutil cp F gs://...`,
        // `rclone copy F remote:` (their file operands are sent; the command is a network
        // sender, so these reads become uploads).
        "gh" | "glab" | "aws" | "gsutil" | "rclone" => {
            let values: Vec<&str> = pos.iter().filter_map(|w| w.value.as_deref()).collect();
            let remote = |v: &str| v.contains("://") || (program == "rclone" && v.contains(':'));
            let files: Vec<&Word> = match (program, values.as_slice()) {
                ("gh", ["gist", "create" | "new", ..]) => pos.iter().skip(2).copied().collect(),
                ("gh", ["release", "upload", _, ..]) => pos.iter().skip(3).copied().collect(),
                ("aws", ["s3", "cp" | "mv" | "sync", ..])
                | ("gsutil", ["cp" | "mv" | "rsync", ..])
                | ("rclone", ["copy" | "move" | "sync" | "copyto" | "moveto", ..]) => {
                    let skip = if program == "aws" { 2 } else { 1 };
                    if values.last().is_some_and(|v| remote(v)) {
                        pos.iter()
                            .skip(skip)
                            .take(pos.len().saturating_sub(skip + 1))
                            .copied()
                            .collect()
                    } else {
                        Vec::new()
                    }
                }
                _ => Vec::new(),
            };
            for w in files {
                add(EffectKind::Read, w, true);
            }
            if matches!(program, "gh" | "glab") {
                for w in forge_uploads(args) {
                    add(EffectKind::Read, &w, false);
                }
            }
        }
        "socat" => {
            for w in args {
                if let Some(v) = w.value.as_deref() {
                    let upper = v.to_ascii_uppercase();
                    for prefix in ["FILE:", "OPEN:", "GOPEN:", "READLINE:"] {
                        if let Some(rest) = upper.strip_prefix(prefix).map(|_| &v[prefix.len()..]) {
                            let path = rest.split(',').next().unwrap_or_default();
                            add(EffectKind::Read, &attached_word(w, path), false);
                        }
                    }
                }
            }
        }
        "zip" | "7z" | "rar" => {
            for w in pos.iter() {
                add(EffectKind::Read, w, true);
            }
        }
        "unzip" => {
            let dirs = option_value(args, &["-d"], &[]);
            if dirs.is_empty() {
                add(EffectKind::Write, &Word::literal("."), true);
            }
            for d in dirs {
                add(EffectKind::Write, d, true);
            }
        }
        _ => {}
    }
}

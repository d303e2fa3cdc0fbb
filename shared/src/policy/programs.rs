//! The allow list of read-only programs, each with its allowed options ([`Spec`]).
//!
//! Only what is listed here can be auto-allowed. Each table was checked against the manual
//! named in its comment (GNU coreutils 9.1, GNU grep 3.8, GNU sed 4.9, GNU findutils 4.9.0,
//! git 2.47, ripgrep 14, jq 1.7, as installed on the build machine: `man`, `--help`). Options
//! that run programs, write files, read files the policy cannot see, or follow symlinks into
//! trees are left off; the known unsafe long options are listed as refused (`!`) so that their
//! abbreviations resolve to them. A smaller list is always fine: what is not here is asked.

use super::options::{Operands, Spec};

const ANY: usize = usize::MAX;

const fn spec(short: &'static str, long: &'static [&'static str], operands: Operands) -> Spec {
    Spec {
        short,
        long,
        more_long: &[],
        operands,
        max_operands: ANY,
    }
}

/// `cat` (coreutils 9.1 cat(1)).
const CAT: Spec = spec(
    "AbeEnstTuv",
    &[
        "show-all",
        "number-nonblank",
        "show-ends",
        "number",
        "squeeze-blank",
        "show-tabs",
        "show-nonprinting",
    ],
    Operands::Reads,
);
/// `head` (coreutils 9.1).
const HEAD: Spec = spec(
    "c:n:qvz#",
    &["bytes=", "lines=", "quiet", "silent", "verbose", "zero-terminated"],
    Operands::Reads,
);
/// `tail` (coreutils 9.1): `head`'s options plus following (`-f`, `-F`, `--pid`, `-s`).
const TAIL: Spec = spec(
    "c:n:qvzfFs:#",
    &[
        "bytes=", "lines=", "quiet", "silent", "verbose", "zero-terminated", "follow?",
        "retry", "sleep-interval=", "pid=", "max-unchanged-stats=",
    ],
    Operands::Reads,
);
/// `wc` (coreutils 9.1; `--files0-from` reads a list of files: refused).
const WC: Spec = spec(
    "cmlLw",
    &[
        "bytes",
        "chars",
        "lines",
        "max-line-length",
        "words",
        "total=",
        "files0-from!",
    ],
    Operands::Reads,
);
/// `ls` (coreutils 9.1 ls(1)).
const LS: Spec = spec(
    "aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1I:T:w:",
    &[
        "all",
        "almost-all",
        "author",
        "escape",
        "block-size=",
        "ignore-backups",
        "color?",
        "colour?",
        "directory",
        "dired",
        "classify?",
        "file-type",
        "format=",
        "full-time",
        "group-directories-first",
        "no-group",
        "human-readable",
        "si",
        "dereference-command-line",
        "dereference-command-line-symlink-to-dir",
        "hide=",
        "hyperlink?",
        "indicator-style=",
        "inode",
        "ignore=",
        "kibibytes",
        "dereference",
        "numeric-uid-gid",
        "literal",
        "hide-control-chars",
        "show-control-chars",
        "quote-name",
        "quoting-style=",
        "reverse",
        "recursive",
        "size",
        "sort=",
        "time=",
        "time-style=",
        "tabsize=",
        "width=",
        "context",
        "zero",
    ],
    Operands::Reads,
);
/// `stat` (coreutils 9.1).
const STAT: Spec = spec(
    "Lfc:t",
    &["dereference", "file-system", "format=", "printf=", "terse", "cached="],
    Operands::Reads,
);
/// `file` (file 5.44 file(1); `-C`/`--compile` writes, `-m` loads magic: left off).
const FILE: Spec = spec(
    "bhiLzZkNnrs0",
    &[
        "brief",
        "mime",
        "mime-type",
        "mime-encoding",
        "no-dereference",
        "dereference",
        "uncompress",
        "keep-going",
        "no-pad",
        "no-buffer",
        "raw",
        "special-files",
        "print0",
        "extension",
        "apple",
        "compile!",
        "magic-file!",
        "files-from!",
    ],
    Operands::Reads,
);
/// `du` (coreutils 9.1; `--files0-from`, `-X` read file lists: refused).
const DU: Spec = spec(
    "0abcd:hklmsxHPt:",
    &[
        "null",
        "all",
        "apparent-size",
        "block-size=",
        "bytes",
        "total",
        "max-depth=",
        "human-readable",
        "inodes",
        "si",
        "summarize",
        "one-file-system",
        "threshold=",
        "time?",
        "time-style=",
        "exclude=",
        "no-dereference",
        "count-links",
        "files0-from!",
        "exclude-from!",
        "dereference!",
    ],
    Operands::Reads,
);
/// `df` (coreutils 9.1).
const DF: Spec = spec(
    "ahHiklPTt:x:",
    &[
        "all",
        "human-readable",
        "si",
        "inodes",
        "local",
        "portability",
        "print-type",
        "total",
        "type=",
        "exclude-type=",
        "output?",
        "block-size=",
        "sync",
        "no-sync",
    ],
    Operands::Reads,
);
/// `diff` (GNU diffutils 3.8; `--from-file`/`--to-file` read: allowed as reads;
/// `-X`/`--exclude-from` and `--GTYPE-group-format`s are left off).
const DIFF: Spec = spec(
    "abBcC:dEiNpqrsStTuU:wWx:yZ",
    &[
        "text",
        "ignore-space-change",
        "ignore-blank-lines",
        "context?",
        "minimal",
        "ignore-tab-expansion",
        "ignore-case",
        "new-file",
        "show-c-function",
        "brief",
        "recursive",
        "report-identical-files",
        "expand-tabs",
        "initial-tab",
        "unified?",
        "ignore-all-space",
        "width=",
        "exclude=",
        "side-by-side",
        "ignore-trailing-space",
        "color?",
        "label=",
        "normal",
        "strip-trailing-cr",
        "suppress-common-lines",
        "no-dereference",
        "from-file=@",
        "to-file=@",
        "exclude-from!",
        "palette=",
    ],
    Operands::Reads,
);
/// `cmp` (diffutils 3.8).
const CMP: Spec = spec(
    "bi:ln:sv",
    &["print-bytes", "ignore-initial=", "verbose", "bytes=", "quiet", "silent"],
    Operands::Reads,
);
/// `comm` (coreutils 9.1).
const COMM: Spec = spec(
    "123z",
    &["check-order", "nocheck-order", "output-delimiter=", "total", "zero-terminated"],
    Operands::Reads,
);
/// `cut` (coreutils 9.1).
const CUT: Spec = spec(
    "b:c:d:f:nsz",
    &[
        "bytes=",
        "characters=",
        "delimiter=",
        "fields=",
        "complement",
        "only-delimited",
        "output-delimiter=",
        "zero-terminated",
    ],
    Operands::Reads,
);
/// `nl` (coreutils 9.1).
const NL: Spec = spec(
    "b:d:f:h:i:l:n:ps:v:w:",
    &[
        "body-numbering=",
        "section-delimiter=",
        "footer-numbering=",
        "header-numbering=",
        "line-increment=",
        "join-blank-lines=",
        "number-format=",
        "no-renumber",
        "number-separator=",
        "starting-line-number=",
        "number-width=",
    ],
    Operands::Reads,
);
/// `od` (coreutils 9.1).
const OD: Spec = spec(
    "A:j:N:t:vw:abcdfilosx",
    &[
        "address-radix=",
        "endian=",
        "skip-bytes=",
        "read-bytes=",
        "format=",
        "output-duplicates",
        "width?",
        "traditional",
    ],
    Operands::Reads,
);
/// `hexdump` (util-linux 2.38; `-f` reads a format file: allowed as a read).
const HEXDUMP: Spec = spec(
    "bcCdoxvn:s:e:f@L",
    &["one-byte-octal", "one-byte-char", "canonical", "two-bytes-decimal", "two-bytes-octal",
      "two-bytes-hex", "length=", "skip=", "no-squeezing", "format=", "format-file=@", "color?"],
    Operands::Reads,
);
/// `md5sum`, `sha*sum`, `b2sum` (coreutils 9.1; `-c` reads the files a list names: refused).
const SUM: Spec = spec(
    "btzl:",
    &["binary", "text", "tag", "zero", "length=", "untagged", "check!"],
    Operands::Reads,
);
/// `cksum` (coreutils 9.1).
const CKSUM: Spec = spec(
    "a:l:z",
    &["algorithm=", "base64", "length=", "raw", "tag", "untagged", "zero", "check!"],
    Operands::Reads,
);
/// `realpath` (coreutils 9.1).
const REALPATH: Spec = spec(
    "emLPqsz",
    &[
        "canonicalize-existing",
        "canonicalize-missing",
        "logical",
        "physical",
        "quiet",
        "strip",
        "no-symlinks",
        "zero",
        "relative-to=@",
        "relative-base=@",
    ],
    Operands::Reads,
);
/// `readlink` (coreutils 9.1).
const READLINK: Spec = spec(
    "femnqsvz",
    &[
        "canonicalize",
        "canonicalize-existing",
        "canonicalize-missing",
        "no-newline",
        "quiet",
        "silent",
        "verbose",
        "zero",
    ],
    Operands::Reads,
);
/// `grep` / `egrep` / `fgrep` (GNU grep 3.8 grep(1)). `-R` (follows every symlink) and the
/// list-reading options are refused.
const GREP: Spec = spec(
    "EFGPe%f&iywxvcLlm:oqsbHhnTZzA:B:C:aId:D:rUu#",
    &[
        "extended-regexp",
        "fixed-strings",
        "basic-regexp",
        "perl-regexp",
        "regexp=%",
        "file=&",
        "ignore-case",
        "no-ignore-case",
        "word-regexp",
        "line-regexp",
        "null-data",
        "no-messages",
        "invert-match",
        "version",
        "help",
        "max-count=",
        "byte-offset",
        "line-number",
        "no-line-number",
        "line-buffered",
        "with-filename",
        "no-filename",
        "label=",
        "only-matching",
        "quiet",
        "silent",
        "binary-files=",
        "text",
        "directories=",
        "devices=",
        "recursive",
        "include=",
        "exclude=",
        "exclude-dir=",
        "files-without-match",
        "files-with-matches",
        "count",
        "initial-tab",
        "null",
        "before-context=",
        "after-context=",
        "context=",
        "group-separator=",
        "no-group-separator",
        "color?",
        "colour?",
        "binary",
        "dereference-recursive!",
        "exclude-from!",
    ],
    Operands::PatternThenReads,
);
/// `rg` (ripgrep 14 rg(1)). `--pre`, `--pre-glob`, `-z`/`--search-zip` (run programs),
/// `--hostname-bin` (runs a program), `-L`/`--follow` (follows symlinks out of the tree) are
/// refused.
const RG: Spec = spec(
    "e%f&iSsvwxFnNlcoqUuHIhA:B:C:m:g:t:T:M:r:d:j:0a.",
    &[
        "regexp=%",
        "file=&",
        "ignore-case",
        "smart-case",
        "case-sensitive",
        "invert-match",
        "word-regexp",
        "line-regexp",
        "fixed-strings",
        "no-fixed-strings",
        "line-number",
        "no-line-number",
        "files-with-matches",
        "files-without-match",
        "count",
        "count-matches",
        "only-matching",
        "quiet",
        "multiline",
        "multiline-dotall",
        "unrestricted",
        "with-filename",
        "no-filename",
        "no-heading",
        "heading",
        "before-context=",
        "after-context=",
        "context=",
        "max-count=",
        "glob=",
        "iglob=",
        "type=",
        "type-not=",
        "type-list",
        "max-columns=",
        "max-columns-preview",
        "replace=",
        "max-depth=",
        "maxdepth=",
        "threads=",
        "null",
        "text",
        "hidden",
        "no-hidden",
        "no-ignore",
        "no-ignore-vcs",
        "no-ignore-parent",
        "no-ignore-dot",
        "no-ignore-global",
        "no-ignore-exclude",
        "no-ignore-files",
        "files",
        "json",
        "vimgrep",
        "column",
        "no-column",
        "trim",
        "sort=",
        "sortr=",
        "stats",
        "color=",
        "colors=",
        "pretty",
        "byte-offset",
        "binary",
        "no-messages",
        "max-filesize=",
        "one-file-system",
        "passthru",
        "pcre2",
        "engine=",
        "encoding=",
        "crlf",
        "null-data",
        "field-match-separator=",
        "field-context-separator=",
        "context-separator=",
        "no-context-separator",
        "path-separator=",
        "line-buffered",
        "block-buffered",
        "include-zero",
        "no-config",
        "debug",
        "pre!",
        "pre-glob!",
        "search-zip!",
        "hostname-bin!",
        "follow!",
        "ignore-file!",
        "type-add!",
    ],
    Operands::PatternThenReads,
);
/// `strings` (binutils 2.40; `-T`/`--target` and `@file` are left off).
const STRINGS: Spec = spec(
    "adfn:t:e:ws:",
    &["all", "data", "print-file-name", "bytes=", "radix=", "encoding=", "include-all-whitespace", "output-separator="],
    Operands::Reads,
);
/// `column` (util-linux 2.38).
const COLUMN: Spec = spec(
    "tc:s:o:xnNJ:l:R:H:W:r:ELd",
    &[
        "table",
        "output-width=",
        "separator=",
        "output-separator=",
        "fillrows",
        "table-columns=",
        "table-right=",
        "table-hide=",
        "table-wrap=",
        "table-name=",
        "json",
        "keep-empty-lines",
        "table-noheadings",
        "table-columns-limit=",
        "table-noextreme=",
        "table-truncate=",
        "tree=",
        "tree-id=",
        "tree-parent=",
    ],
    Operands::Reads,
);
/// `tac` (coreutils 9.1).
const TAC: Spec = spec("brs:", &["before", "regex", "separator="], Operands::Reads);
/// `rev` (util-linux 2.38).
const REV: Spec = spec("0", &["zero"], Operands::Reads);
/// `fold` (coreutils 9.1).
const FOLD: Spec = spec("bsw:#", &["bytes", "spaces", "width="], Operands::Reads);
/// `fmt` (coreutils 9.1).
const FMT: Spec = spec(
    "cp:stuw:g:#",
    &["crown-margin", "prefix=", "split-only", "tagged-paragraph", "uniform-spacing", "width=", "goal="],
    Operands::Reads,
);
/// `expand` / `unexpand` (coreutils 9.1).
const EXPAND: Spec = spec("it:a#", &["initial", "tabs=", "all", "first-only"], Operands::Reads);
/// `paste` (coreutils 9.1).
const PASTE: Spec = spec("d:sz", &["delimiters=", "serial", "zero-terminated"], Operands::Reads);
/// `join` (coreutils 9.1).
const JOIN: Spec = spec(
    "a:e:io:t:v:1:2:j:z",
    &["ignore-case", "check-order", "nocheck-order", "header", "zero-terminated"],
    Operands::Reads,
);
/// `sort` (coreutils 9.1 sort(1)). `-o`/`--output` writes, `--compress-program` runs a program,
/// `-T`/`--temporary-directory` writes, `--files0-from` and `--random-source` read files the
/// policy would not see as such: refused.
const SORT: Spec = spec(
    "bdfgiMhnRrVcCmsuzk:t:S:",
    &[
        "ignore-leading-blanks",
        "dictionary-order",
        "ignore-case",
        "general-numeric-sort",
        "ignore-nonprinting",
        "month-sort",
        "human-numeric-sort",
        "numeric-sort",
        "random-sort",
        "reverse",
        "sort=",
        "version-sort",
        "check?",
        "debug",
        "key=",
        "merge",
        "buffer-size=",
        "stable",
        "field-separator=",
        "unique",
        "zero-terminated",
        "parallel=",
        "output!",
        "compress-program!",
        "temporary-directory!",
        "files0-from!",
        "random-source!",
        "batch-size=",
    ],
    Operands::Reads,
);
/// `uniq` (coreutils 9.1): one operand only (a second one is written).
const UNIQ: Spec = Spec {
    short: "cdDf:iLs:uw:z",
    long: &[
        "count",
        "repeated",
        "all-repeated?",
        "skip-fields=",
        "group?",
        "ignore-case",
        "skip-chars=",
        "unique",
        "zero-terminated",
        "check-chars=",
    ],
    more_long: &[],
    operands: Operands::Reads,
    max_operands: 1,
};
/// `tr` (coreutils 9.1): operands are sets, the input is stdin.
const TR: Spec = spec(
    "cCdst",
    &["complement", "delete", "squeeze-repeats", "truncate-set1"],
    Operands::Text,
);
/// `jq` (jq 1.7 jq(1)). `-f`/`--from-file`, `-L`, `--rawfile`, `--slurpfile`, `--args`
/// and the two-value options are left off.
const JQ: Spec = spec(
    "rcnseSjaCM",
    &[
        "raw-output",
        "compact-output",
        "null-input",
        "slurp",
        "exit-status",
        "sort-keys",
        "join-output",
        "ascii-output",
        "color-output",
        "monochrome-output",
        "tab",
        "indent=",
        "raw-output0",
        "raw-input",
        "seq",
        "stream",
    ],
    Operands::PatternThenReads,
);
/// `xxd` (xxd 2022): one operand only (a second one is written), `-r` writes binary.
const XXD: Spec = Spec {
    short: "aEpuibc:g:l:s:o:",
    long: &[],
    more_long: &[],
    operands: Operands::Reads,
    max_operands: 1,
};
/// `base64` (coreutils 9.1): one operand.
const BASE64: Spec = Spec {
    short: "diw:",
    long: &["decode", "ignore-garbage", "wrap="],
    more_long: &[],
    operands: Operands::Reads,
    max_operands: 1,
};
/// `date` (coreutils 9.1). `-s`/`--set` changes the clock; `-f`/`--file` prints a file's
/// lines in its error messages: refused.
const DATE: Spec = spec(
    "d:IRr@u",
    &[
        "date=",
        "debug",
        "iso-8601?",
        "resolution",
        "rfc-email",
        "rfc-3339=",
        "reference=@",
        "utc",
        "universal",
        "set!",
        "file!",
    ],
    Operands::Text,
);
/// `hostname` (hostname 3.23): showing only (an operand sets the name).
const HOSTNAME: Spec = spec(
    "sfdiIAa",
    &["short", "fqdn", "long", "domain", "ip-address", "all-ip-addresses", "all-fqdns", "alias", "file!"],
    Operands::None,
);
/// `tree` (tree 2.1). `-o` writes, `-l` follows symlinks, `--fromfile` reads a list: refused.
const TREE: Spec = spec(
    "adfixpsughDFqNQrtvUcCAnSL:P:I:J",
    &[
        "noreport",
        "charset=",
        "filelimit=",
        "timefmt=",
        "du",
        "prune",
        "dirsfirst",
        "filesfirst",
        "gitignore",
        "matchdirs",
        "ignore-case",
        "info",
        "sort=",
        "metafirst",
        "fromfile!",
        "help",
    ],
    Operands::Reads,
);
/// `uname` (coreutils 9.1).
const UNAME: Spec = spec(
    "asnrvmpio",
    &[
        "all",
        "kernel-name",
        "nodename",
        "kernel-release",
        "kernel-version",
        "machine",
        "processor",
        "hardware-platform",
        "operating-system",
    ],
    Operands::None,
);
/// Text-only programs whose options and operands touch no file: `echo` (bash builtin),
/// `basename`, `dirname`, `seq`, `sleep`, `expr`, `factor`, `true`, `false`, ... (coreutils
/// 9.1, bash 5.2 builtins).
const TEXT: Spec = spec("aeEnszu0#", &["multiple", "suffix=", "zero", "separator=", "format=", "equal-width"], Operands::Text);
/// `printf` (bash 5.2 builtin): `-v VAR` assigns and is refused.
const PRINTF: Spec = spec("", &[], Operands::Text);
/// `which` (debianutils 5) / `type` (bash 5.2 builtin).
const WHICH: Spec = spec("aftpP", &[], Operands::Text);
/// `pwd`, `whoami`, `id`, `nproc`, `arch`, `tty`, `groups`, `uptime`, `free`, `cal`
/// (coreutils 9.1, procps 4): no file operands.
const INFO: Spec = spec("LPgGnurzhbkmtwsap", &["logical", "physical", "human", "all", "pretty", "since"], Operands::Text);

/// The spec of `program` (a base name), `None` when it is not on the allow list.
pub(crate) fn spec_of(program: &str) -> Option<&'static Spec> {
    Some(match program {
        "cat" => &CAT,
        "head" => &HEAD,
        "tail" => &TAIL,
        "wc" => &WC,
        "ls" => &LS,
        "stat" => &STAT,
        "file" => &FILE,
        "du" => &DU,
        "df" => &DF,
        "diff" => &DIFF,
        "cmp" => &CMP,
        "comm" => &COMM,
        "cut" => &CUT,
        "nl" => &NL,
        "od" => &OD,
        "hexdump" => &HEXDUMP,
        "md5sum" | "sha1sum" | "sha224sum" | "sha256sum" | "sha384sum" | "sha512sum"
        | "b2sum" => &SUM,
        "cksum" => &CKSUM,
        "realpath" => &REALPATH,
        "readlink" => &READLINK,
        "grep" | "egrep" | "fgrep" => &GREP,
        "rg" => &RG,
        "strings" => &STRINGS,
        "column" => &COLUMN,
        "tac" => &TAC,
        "rev" => &REV,
        "fold" => &FOLD,
        "fmt" => &FMT,
        "expand" | "unexpand" => &EXPAND,
        "paste" => &PASTE,
        "join" => &JOIN,
        "sort" => &SORT,
        "uniq" => &UNIQ,
        "tr" => &TR,
        "jq" => &JQ,
        "xxd" => &XXD,
        "base64" => &BASE64,
        "date" => &DATE,
        "hostname" => &HOSTNAME,
        "tree" => &TREE,
        "uname" => &UNAME,
        "echo" | "basename" | "dirname" | "seq" | "sleep" | "expr" | "factor" | "true"
        | "false" | ":" => &TEXT,
        "printf" => &PRINTF,
        "which" | "type" => &WHICH,
        "pwd" | "whoami" | "id" | "nproc" | "arch" | "tty" | "groups" | "uptime" | "free"
        | "cal" => &INFO,
        _ => return None,
    })
}

/// `sed` (GNU sed 4.9 sed(1), info "sed scripts"). `-i`/`--in-place` writes, `-f`/`--file`
/// reads a script the policy cannot check, `-s`/`--separate` only matters with `-i`,
/// `--follow-symlinks` only with `-i`: refused. Scripts are checked separately (no `e`, `w`,
/// `W`, `r`, `R` commands, no `e`/`w` flags).
pub(crate) const SED: Spec = spec(
    "nrEe%l:suz",
    &[
        "quiet",
        "silent",
        "debug",
        "expression=%",
        "line-length=",
        "null-data",
        "zero-terminated",
        "posix",
        "regexp-extended",
        "sandbox",
        "unbuffered",
        "separate",
        "in-place!",
        "file!",
        "follow-symlinks!",
        "binary",
        "help",
        "version",
    ],
    Operands::PatternThenReads,
);

/// `find` predicates allowed (GNU findutils 4.9.0 find(1)), with whether each takes a value
/// and whether that value is a file read. `-exec`, `-execdir`, `-ok`, `-okdir` (run
/// programs), `-delete`, `-fprint*`, `-fls` (write), `-L`/`-follow` (follow symlinks out of
/// the tree), `-files0-from` are not listed.
pub(crate) const FIND_PREDICATES: &[(&str, u8)] = &[
    // 0: no value, 1: text value, 2: file value (read)
    ("-name", 1),
    ("-iname", 1),
    ("-path", 1),
    ("-ipath", 1),
    ("-wholename", 1),
    ("-iwholename", 1),
    ("-regex", 1),
    ("-iregex", 1),
    ("-regextype", 1),
    ("-lname", 1),
    ("-ilname", 1),
    ("-type", 1),
    ("-xtype", 1),
    ("-maxdepth", 1),
    ("-mindepth", 1),
    ("-mtime", 1),
    ("-mmin", 1),
    ("-atime", 1),
    ("-amin", 1),
    ("-ctime", 1),
    ("-cmin", 1),
    ("-used", 1),
    ("-size", 1),
    ("-perm", 1),
    ("-user", 1),
    ("-group", 1),
    ("-uid", 1),
    ("-gid", 1),
    ("-links", 1),
    ("-inum", 1),
    ("-printf", 1),
    ("-newer", 2),
    ("-anewer", 2),
    ("-cnewer", 2),
    ("-samefile", 2),
    ("-empty", 0),
    ("-readable", 0),
    ("-writable", 0),
    ("-executable", 0),
    ("-nouser", 0),
    ("-nogroup", 0),
    ("-print", 0),
    ("-print0", 0),
    ("-ls", 0),
    ("-prune", 0),
    ("-quit", 0),
    ("-true", 0),
    ("-false", 0),
    ("-depth", 0),
    ("-d", 0),
    ("-mount", 0),
    ("-xdev", 0),
    ("-noleaf", 0),
    ("-daystart", 0),
    ("-ignore_readdir_race", 0),
    ("-noignore_readdir_race", 0),
    ("-not", 0),
    ("!", 0),
    ("(", 0),
    (")", 0),
    ("-a", 0),
    ("-and", 0),
    ("-o", 0),
    ("-or", 0),
    (",", 0),
    ("-P", 0),
    ("-H", 0),
];

/// Options valid for every git command shown as its diff (git 2.47 git-diff(1) "OPTIONS",
/// diff-options.txt). `--ext-diff` and `--textconv` run configured programs, `--output`
/// writes, `--no-index` compares files outside the repository: refused.
const GIT_DIFF_LONG: &[&str] = &[
            "patch", "no-patch", "unified=", "output!", "output-indicator-new=",
            "output-indicator-old=", "output-indicator-context=", "raw", "patch-with-raw",
            "indent-heuristic", "no-indent-heuristic", "minimal", "patience", "histogram",
            "anchored=", "diff-algorithm=", "stat?", "stat-width=", "stat-name-width=",
            "stat-graph-width=", "stat-count=", "compact-summary", "numstat", "shortstat",
            "dirstat?", "cumulative", "dirstat-by-file?", "summary", "patch-with-stat",
            "name-only", "name-status", "submodule?", "color?", "no-color", "color-moved?",
            "no-color-moved", "color-moved-ws=", "no-color-moved-ws", "word-diff?",
            "word-diff-regex=", "color-words?", "no-renames", "rename-empty",
            "no-rename-empty", "check", "ws-error-highlight=", "full-index", "binary",
            "abbrev?", "break-rewrites?", "find-renames?", "find-copies?",
            "find-copies-harder", "irreversible-delete", "diff-filter=", "find-object=",
            "pickaxe-all", "pickaxe-regex", "skip-to=", "rotate-to=", "relative?",
            "no-relative", "text", "ignore-cr-at-eol", "ignore-space-at-eol",
            "ignore-space-change", "ignore-all-space", "ignore-blank-lines",
            "ignore-matching-lines=", "inter-hunk-context=", "function-context", "exit-code",
            "quiet", "no-ext-diff", "no-textconv", "ignore-submodules?", "src-prefix=",
            "dst-prefix=", "no-prefix", "default-prefix", "line-prefix=", "ita-invisible-in-index",
            "ita-visible-in-index", "ext-diff!", "textconv!", "no-index!", "cached", "staged",
            "merge-base", "base", "ours", "theirs", "renames", "follow",
];

/// `git log` / `show` / `whatchanged` options besides the diff options (git 2.47 git-log(1),
/// rev-list-options.txt). `--show-signature` runs gpg: refused.
const GIT_LOG_EXTRA: &[&str] = &[
    "oneline", "max-count=", "skip=", "since=", "after=", "until=", "before=", "author=",
    "committer=", "grep=", "all-match", "invert-grep", "regexp-ignore-case", "basic-regexp",
    "extended-regexp", "fixed-strings", "perl-regexp", "all", "branches?", "tags?", "remotes?",
    "graph", "decorate?", "no-decorate", "format=", "pretty?", "date=", "reverse",
    "first-parent", "no-merges", "merges", "source", "topo-order", "date-order",
    "author-date-order", "left-right", "cherry-pick", "cherry-mark", "abbrev-commit",
    "no-abbrev-commit", "relative-date", "parents", "children", "boundary",
    "simplify-by-decoration", "full-history", "dense", "sparse", "notes?", "no-notes",
    "mailmap", "no-mailmap", "log-size", "encoding=", "expand-tabs?", "no-expand-tabs",
    "show-signature!", "max-age=", "min-age=", "no-walk?",
];

/// Short diff options (`-p`, `-u`, `-U<n>`, `-z`, `-R`, `-w`, `-b`, `-W`, `-M`, `-C`, `-B`,
/// `-D`, `-S`, `-G`, `-a`, `-s`, `-X` is `--dirstat`...). `-O<orderfile>` reads a file: left
/// off.
const GIT_DIFF_SHORT: &str = "puU:zRwbWMCBDaS%G%s";

/// The spec of a git subcommand, `None` when it is not allowed (git 2.47 manuals of each).
pub(crate) fn git_spec(sub: &str) -> Option<Spec> {
    Some(match sub {
        "status" => spec(
            "sbvzu",
            &[
                "short", "branch", "porcelain?", "long", "verbose", "untracked-files?",
                "ignored?", "ignore-submodules?", "column?", "no-column", "ahead-behind",
                "no-ahead-behind", "renames", "no-renames", "find-renames?", "show-stash",
                "null",
            ],
            Operands::Reads,
        ),
        "diff" => spec(GIT_DIFF_SHORT, GIT_DIFF_LONG, Operands::Reads),
        "log" | "show" | "whatchanged" => {
            let mut s = spec("puU:zRwbWMCBDaS%G%sn:ieEFm#", GIT_DIFF_LONG, Operands::Reads);
            s.more_long = GIT_LOG_EXTRA;
            s
        }
        // `--contents <file>` shows any file as if committed; `-S <revs-file>` reads one.
        "blame" | "annotate" => spec(
            "bL:lstfnspwMCe#",
            &[
                "root", "show-stats", "score-debug", "show-name", "show-number", "porcelain",
                "line-porcelain", "incremental", "show-email", "abbrev?", "date=",
                "reverse=", "first-parent", "progress", "no-progress", "color-lines",
                "color-by-age", "minimal", "contents!", "ignore-rev=", "ignore-revs-file!",
            ],
            Operands::Reads,
        ),
        "shortlog" => spec(
            "snec",
            &["summary", "numbered", "email", "committer", "group=", "format="],
            Operands::Text,
        ),
        "describe" => spec(
            "",
            &[
                "tags", "all", "always", "abbrev=", "long", "dirty?", "broken?",
                "exact-match", "contains", "match=", "exclude=", "first-parent",
                "candidates=", "debug",
            ],
            Operands::Text,
        ),
        "rev-parse" => spec(
            "q",
            &[
                "show-toplevel", "git-dir", "git-common-dir", "absolute-git-dir",
                "abbrev-ref?", "short?", "verify", "quiet", "is-inside-work-tree",
                "is-inside-git-dir", "is-bare-repository", "show-prefix", "show-cdup",
                "symbolic", "symbolic-full-name", "show-superproject-working-tree",
                "show-object-format?", "all", "branches?", "tags?", "remotes?", "revs-only",
                "no-revs", "flags", "no-flags", "default=",
            ],
            Operands::Text,
        ),
        "rev-list" => spec(
            "n:",
            &[
                "count", "all", "max-count=", "left-right", "reverse", "since=", "until=",
                "first-parent", "no-merges", "merges", "topo-order", "date-order", "branches?",
                "tags?", "remotes?", "abbrev-commit", "cherry-pick", "left-only", "right-only",
            ],
            Operands::Text,
        ),
        "ls-files" => spec(
            "cdmokisuvftzx:",
            &[
                "cached", "deleted", "modified", "others", "ignored", "stage", "directory",
                "no-empty-directory", "unmerged", "killed", "exclude=", "exclude-standard",
                "error-unmatch", "full-name", "recurse-submodules", "abbrev?", "debug",
                "eol", "deduplicate", "format=", "sparse", "resolve-undo", "exclude-from!",
                "exclude-per-directory!", "with-tree=",
            ],
            Operands::Reads,
        ),
        "ls-tree" => spec(
            "rdtlz",
            &[
                "long", "name-only", "name-status", "object-only", "full-name", "full-tree",
                "abbrev?", "format=",
            ],
            Operands::Text,
        ),
        // `-p`, `-t`, `-s`, `-e` only: `--textconv`, `--filters`, `--batch-command` run
        // configured programs.
        "cat-file" => spec("ptse", &["textconv!", "filters!", "batch?", "batch-check?", "batch-command!"], Operands::Text),
        "merge-base" => spec(
            "a",
            &["all", "octopus", "independent", "is-ancestor", "fork-point"],
            Operands::Text,
        ),
        "show-ref" => spec(
            "dsq",
            &["head", "heads", "branches", "tags", "dereference", "hash?", "verify", "abbrev?", "quiet", "exists"],
            Operands::Text,
        ),
        "for-each-ref" => spec(
            "",
            &[
                "count=", "sort=", "format=", "color?", "shell", "perl", "python", "tcl",
                "points-at=", "merged?", "no-merged?", "contains?", "no-contains?",
                "ignore-case", "omit-empty", "exclude=",
            ],
            Operands::Text,
        ),
        "check-ignore" => spec("vqnz", &["verbose", "quiet", "non-matching", "no-index"], Operands::Reads),
        // `-O`/`--open-files-in-pager` runs a pager, `--textconv` runs filters.
        "grep" => spec(
            "e%f&nilLvwcEFGPhHIoqWzA:B:C:m:ar#",
            &[
                "cached", "untracked", "no-index!", "no-exclude-standard", "exclude-standard",
                "recurse-submodules", "text", "textconv!", "no-textconv", "ignore-case",
                "max-depth=", "recursive", "no-recursive", "word-regexp", "invert-match",
                "full-name", "extended-regexp", "basic-regexp", "perl-regexp",
                "fixed-strings", "line-number", "column", "files-with-matches",
                "name-only", "files-without-match", "open-files-in-pager!", "null",
                "only-matching", "count", "color?", "no-color", "break", "heading",
                "show-function", "context=", "after-context=", "before-context=",
                "function-context", "max-count=", "threads=", "and", "or", "not",
                "all-match", "quiet", "regexp=%", "file=&",
            ],
            Operands::PatternThenReads,
        ),
        "branch" => spec(
            "arlvc",
            &[
                "all", "remotes", "list", "verbose", "show-current", "color?", "no-color",
                "contains?", "no-contains?", "merged?", "no-merged?", "sort=", "format=",
                "column?", "no-column", "points-at=", "ignore-case", "omit-empty", "abbrev?",
                "no-abbrev",
            ],
            Operands::None,
        ),
        "tag" => spec(
            "ln#",
            &["list", "sort=", "contains?", "no-contains?", "points-at?", "format=", "column?", "no-column", "merged?", "no-merged?", "ignore-case", "omit-empty"],
            Operands::None,
        ),
        "version" => spec("", &["build-options"], Operands::None),
        "count-objects" => spec("vH", &["verbose", "human-readable"], Operands::None),
        _ => return None,
    })
}

/// Git subcommands with a fixed action word (`git remote -v`, `git stash list`,
/// `git worktree list`): the allowed action and its spec.
pub(crate) fn git_action_spec(sub: &str, action: Option<&str>) -> Option<Spec> {
    Some(match (sub, action) {
        ("remote", None) => spec("v", &["verbose"], Operands::None),
        ("remote", Some("get-url")) => spec("", &["push", "all"], Operands::Text),
        ("stash", Some("list")) => spec("", &["oneline", "format=", "date="], Operands::None),
        ("worktree", Some("list")) => spec("vz", &["porcelain", "verbose"], Operands::None),
        _ => return None,
    })
}

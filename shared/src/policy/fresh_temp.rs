//! Variables that hold a directory or file the command line itself just created with
//! `mktemp` (`B=$(mktemp -d); ...; rm -rf "$B"`): deleting them removes only what the line
//! put there, so a recursive delete of `"$B"` is not a "delete of a path only known at run
//! time". Found by a conservative scan of the text: the name is assigned exactly once, by
//! `NAME=$(mktemp <literal options>)` at the start of a command, and every other occurrence of
//! the name is a plain reference (`$NAME`, `${NAME}`), never an assignment (`read NAME`,
//! `for NAME`, `${NAME:=x}`, `printf -v NAME`, `unset NAME`, ...). If `mktemp` fails the
//! variable is empty and `rm -rf "$NAME"` removes nothing. The result only turns a deny into
//! an ask: a delete is never auto-allowed.

/// Names of the variables of `text` that hold a fresh `mktemp` result.
pub(super) fn fresh_temp_names(text: &str) -> Vec<String> {
    const ASSIGN: &str = "=$(mktemp";
    let mut names = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find(ASSIGN) {
        let at = search + found;
        search = at + ASSIGN.len();
        let before = &text[..at];
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        let name = &before[name_start..];
        // At the start of the line or after `;` / a newline: not an argument (`echo B=...`),
        // not after `&&` / `||` (conditional: `B` could then come from the environment).
        let starts_command = before[..name_start]
            .trim_end_matches([' ', '\t'])
            .chars()
            .next_back()
            .is_none_or(|c| matches!(c, ';' | '\n'));
        let args = text[search..].split(')').next().unwrap_or_default();
        let literal_args = text[search..].contains(')') && args.starts_with([' ', ')'])
            || args.is_empty() && text[search..].starts_with(')');
        if is_name(name)
            && starts_command
            && literal_args
            && !args.contains([
                '$', '`', '(', ';', '|', '&', '<', '>', '\n', '\\', '"', '\'',
            ])
            && only_referenced(text, name, name_start)
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Whether `written` is exactly a reference to one of `names` (`"$B"`, `$B`, `"${B}"`).
pub(super) fn is_fresh_reference(written: &str, names: &[String]) -> bool {
    let inner = written
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(written);
    let Some(var) = inner.strip_prefix('$') else {
        return false;
    };
    let var = var
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(var);
    names.iter().any(|n| n == var)
}

fn is_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` occurs in `text` exactly once other than as `$name` / `${name}`: the assignment at
/// `assigned_at`, before any reference.
fn only_referenced(text: &str, name: &str, assigned_at: usize) -> bool {
    let bytes = text.as_bytes();
    let mut others = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let prev = at.checked_sub(1).map(|i| bytes[i]);
        let next = bytes.get(from).copied();
        if prev.is_some_and(ident) || next.is_some_and(ident) {
            continue;
        }
        let plain = prev == Some(b'$');
        let braced = prev == Some(b'{') && at >= 2 && bytes[at - 2] == b'$' && next == Some(b'}');
        if !(plain || braced) {
            others += 1;
        } else if at < assigned_at {
            return false;
        }
    }
    others == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mktemp_assignment_used_only_by_reference_is_fresh() {
        for text in [
            "B=$(mktemp -d); rm -rf \"$B\"",
            "B=$(mktemp -d -t build.XXXX) && make DEST=\"$B\" && rm -rf \"${B}\"",
            "cd x\nB=$(mktemp)\nrm -rf $B",
        ] {
            assert_eq!(fresh_temp_names(text), vec!["B".to_string()], "{text}");
        }
    }

    #[test]
    fn a_name_assigned_again_or_built_at_run_time_is_not() {
        for text in [
            "B=$(mktemp -d); B=~; rm -rf \"$B\"",
            "B=$(mktemp -d); read B; rm -rf \"$B\"",
            "B=$(mktemp -d); for B in ~; do rm -rf \"$B\"; done",
            "B=$(mktemp -d); : ${B:=/}; rm -rf \"$B\"",
            "B=$(mktemp -d); printf -v B /; rm -rf \"$B\"",
            "B=$(mktemp -d); unset B; rm -rf \"$B\"",
            "B=$(mktemp -d $(echo -p /)); rm -rf \"$B\"",
            "B=$(mktemp -d); B+=/..; rm -rf \"$B\"",
            "echo B=$(mktemp -d); rm -rf \"$B\"",
            "XB=$(mktemp -d); rm -rf \"$B\"",
            "rm -rf \"$B\"; B=$(mktemp -d)",
            "false && B=$(mktemp -d); rm -rf \"$B\"",
            "{ B=$(mktemp -d); }; rm -rf \"$B\"",
            "B=$(mktemp -d; echo ~); rm -rf \"$B\"",
        ] {
            assert!(!fresh_temp_names(text).contains(&"B".to_string()), "{text}");
        }
    }

    #[test]
    fn only_an_exact_reference_counts() {
        let names = vec!["B".to_string()];
        for w in ["\"$B\"", "$B", "\"${B}\"", "${B}"] {
            assert!(is_fresh_reference(w, &names), "{w}");
        }
        for w in [
            "\"$B\"/..",
            "\"$B/x\"",
            "$B/*",
            "\"$BB\"",
            "\"${B:-/}\"",
            "$C",
        ] {
            assert!(!is_fresh_reference(w, &names), "{w}");
        }
    }
}

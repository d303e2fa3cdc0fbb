//! Claude Code versions: parsing `claude --version`, the supported range, and the table of the
//! first version that knows each hook event.
//!
//! Claude Code opens a blocking "Settings Warning: Unknown hook event ..." dialog at every
//! interactive start when a settings file names an event it does not know, so
//! [`crate::registration`] registers only the events of the user's version. The table was
//! checked against the binaries of the oldest supported (2.1.197) and the newest (2.1.332)
//! release and their release notes (see `claude-code-hooks.md`, appendix).

use crate::events::HookEventName;
use std::fmt;
use std::str::FromStr;

/// A Claude Code release number (`2.1.332`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaudeVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl ClaudeVersion {
    /// A version from its three numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> ClaudeVersion {
        ClaudeVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `2.1.332`, `v2.1.332` or the whole `claude --version` line
    /// (`2.1.332 (Claude Code)`): the first word that is a dotted version. Pre-release and
    /// build suffixes (`2.1.332-beta.1`) are ignored.
    pub fn parse(text: &str) -> Result<ClaudeVersion, VersionError> {
        text.split_whitespace()
            .find_map(Self::parse_word)
            .ok_or_else(|| VersionError(text.trim().chars().take(80).collect()))
    }

    fn parse_word(word: &str) -> Option<ClaudeVersion> {
        let word = word.strip_prefix('v').unwrap_or(word);
        let core = word.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let mut num = || parts.next()?.parse::<u32>().ok();
        let v = ClaudeVersion::new(num()?, num()?, num()?);
        parts.next().is_none().then_some(v)
    }

    /// Is this version inside [`OLDEST_SUPPORTED`]..=[`NEWEST_KNOWN`]?
    pub fn support(&self) -> Support {
        if *self < OLDEST_SUPPORTED {
            Support::TooOld
        } else if *self > NEWEST_KNOWN {
            Support::Newer
        } else {
            Support::Supported
        }
    }

    /// Does this version fire PermissionRequest in `-p` runs (since [`PERMISSION_REQUEST_IN_PRINT`])?
    pub fn permission_request_in_print(&self) -> bool {
        *self >= PERMISSION_REQUEST_IN_PRINT
    }
}

impl fmt::Display for ClaudeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ClaudeVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaudeVersion::parse(s)
    }
}

/// Text that holds no `MAJOR.MINOR.PATCH` version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Claude Code version: {0:?} (expected e.g. 2.1.332)")]
pub struct VersionError(pub String);

/// Where a version stands against the supported range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Older than [`OLDEST_SUPPORTED`]: Maestro registers the oldest supported set and warns.
    TooOld,
    /// In the supported range.
    Supported,
    /// Newer than [`NEWEST_KNOWN`]: every event known to this build is registered.
    Newer,
}

/// The oldest Claude Code Maestro supports.
pub const OLDEST_SUPPORTED: ClaudeVersion = ClaudeVersion::new(2, 1, 197);
/// The newest Claude Code this build was checked against.
pub const NEWEST_KNOWN: ClaudeVersion = ClaudeVersion::new(2, 1, 332);
/// PermissionRequest fires in `-p` runs since this version (before: only in the TUI and the
/// SDK control protocol; `-p` turned asks into silent denials).
pub const PERMISSION_REQUEST_IN_PRINT: ClaudeVersion = ClaudeVersion::new(2, 1, 268);

/// The first Claude Code version that knows `event`. Events this build does not know
/// ([`HookEventName::Other`]) get `None`: never registered.
pub fn first_version(event: &HookEventName) -> Option<ClaudeVersion> {
    Some(match event {
        HookEventName::DirectoryAdded => ClaudeVersion::new(2, 1, 219),
        HookEventName::PreModelSwitch | HookEventName::PostModelSwitch => {
            ClaudeVersion::new(2, 1, 251)
        }
        HookEventName::PreSkillShellCommand => ClaudeVersion::new(2, 1, 332),
        HookEventName::Other(_) => return None,
        // The other 30 events are all known to the oldest supported version.
        _ => OLDEST_SUPPORTED,
    })
}

/// Does Claude Code `version` know `event`? Versions older than the supported range are
/// treated as the oldest supported one.
pub fn knows(version: &ClaudeVersion, event: &HookEventName) -> bool {
    first_version(event).is_some_and(|first| first <= (*version).max(OLDEST_SUPPORTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_line() {
        assert_eq!(
            ClaudeVersion::parse("2.1.332 (Claude Code)\n"),
            Ok(ClaudeVersion::new(2, 1, 332))
        );
        assert_eq!(
            "v2.1.197".parse::<ClaudeVersion>(),
            Ok(ClaudeVersion::new(2, 1, 197))
        );
        assert_eq!(
            ClaudeVersion::parse("claude 2.1.300-beta.2"),
            Ok(ClaudeVersion::new(2, 1, 300))
        );
        for bad in ["", "Claude Code", "2.1", "2.1.x", "1.2.3.4", "-1.2.3"] {
            assert!(ClaudeVersion::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ClaudeVersion::new(2, 1, 9).to_string(), "2.1.9");
        assert!(ClaudeVersion::new(2, 1, 99) < ClaudeVersion::new(2, 1, 197));
        assert!(ClaudeVersion::new(2, 2, 0) > NEWEST_KNOWN);
    }

    #[test]
    fn event_counts_per_version() {
        let count = |v: ClaudeVersion| HookEventName::ALL.iter().filter(|e| knows(&v, e)).count();
        assert_eq!(count(OLDEST_SUPPORTED), 30);
        assert_eq!(
            count(ClaudeVersion::new(2, 1, 100)),
            30,
            "too old: the oldest set"
        );
        assert_eq!(count(ClaudeVersion::new(2, 1, 219)), 31);
        assert_eq!(count(ClaudeVersion::new(2, 1, 250)), 31);
        assert_eq!(count(ClaudeVersion::new(2, 1, 251)), 33);
        assert_eq!(count(ClaudeVersion::new(2, 1, 331)), 33);
        assert_eq!(count(NEWEST_KNOWN), 34);
        assert_eq!(count(ClaudeVersion::new(3, 0, 0)), 34);
        assert!(!knows(&NEWEST_KNOWN, &HookEventName::Other("Brand".into())));
    }

    #[test]
    fn support_range_and_print_permission_requests() {
        assert_eq!(ClaudeVersion::new(2, 1, 196).support(), Support::TooOld);
        assert_eq!(OLDEST_SUPPORTED.support(), Support::Supported);
        assert_eq!(NEWEST_KNOWN.support(), Support::Supported);
        assert_eq!(ClaudeVersion::new(2, 1, 333).support(), Support::Newer);
        assert!(!ClaudeVersion::new(2, 1, 267).permission_request_in_print());
        assert!(ClaudeVersion::new(2, 1, 268).permission_request_in_print());
    }
}

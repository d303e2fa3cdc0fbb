//! The destinations in force: the config file's (fixed for the life of the process) and those
//! stored through the API (changed at run time, reloaded from the store after each change).

use super::{Destination, Format, Kind};
use crate::store::StoredDestination;
use serde::Serialize;
use std::sync::{Arc, RwLock};

/// Every destination the runner sends to, and where each one comes from.
pub struct Registry {
    config: Arc<Vec<Destination>>,
    stored: RwLock<Vec<StoredDestination>>,
    current: RwLock<Arc<Vec<Destination>>>,
    /// Held across a change and the reload after it, so that reloads apply in order.
    pub(crate) edit: tokio::sync::Mutex<()>,
}

/// A destination as the API and the UI show it: the secret is never shown, the URL without its
/// path and query (a Slack webhook URL is a credential).
#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    /// Unique name.
    pub name: String,
    /// Scheme, host and port, with the path shortened.
    pub url: String,
    /// Body format.
    pub format: Format,
    /// Whether the JSON body is signed (a secret is set).
    pub signed: bool,
    /// What it is sent.
    pub on: Vec<Kind>,
    /// Only these tasks (empty: any).
    pub tasks: Vec<String>,
    /// Only these project dirs (empty: any).
    pub projects: Vec<String>,
    /// `config` (the config file; read-only here) or `api` (added through the API or the UI).
    pub source: &'static str,
    /// When it was last changed (API destinations).
    pub updated_at: Option<String>,
    /// Who changed it last (API destinations).
    pub updated_by: Option<String>,
}

/// `https://host:port/…` for a URL: what can be shown of it to every operator.
pub(crate) fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            let rest = u.path().len() > 1 || u.query().is_some();
            format!("{origin}/{}", if rest { "…" } else { "" })
        }
        Err(_) => "(invalid URL)".into(),
    }
}

impl Registry {
    /// The config file's destinations; the stored ones are added by [`Registry::set_stored`].
    pub fn new(config: Arc<Vec<Destination>>) -> Registry {
        Registry {
            current: RwLock::new(Arc::clone(&config)),
            config,
            stored: RwLock::new(Vec::new()),
            edit: tokio::sync::Mutex::new(()),
        }
    }

    /// Every destination in force now.
    pub fn current(&self) -> Arc<Vec<Destination>> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the stored destinations (after a change, or at start).
    pub fn set_stored(&self, stored: Vec<StoredDestination>) {
        let mut all: Vec<Destination> = self.config.as_ref().clone();
        // A name of the config file wins (the API refuses such names; a file edited after the
        // fact must not send twice under one name).
        all.extend(
            stored
                .iter()
                .filter(|s| !self.is_config(&s.destination.name))
                .map(|s| s.destination.clone()),
        );
        match self.stored.write() {
            Ok(mut g) => *g = stored,
            Err(poisoned) => *poisoned.into_inner() = stored,
        }
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(all),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(all),
        }
    }

    /// Whether `name` is a destination of the config file.
    pub fn is_config(&self, name: &str) -> bool {
        self.config.iter().any(|d| d.name == name)
    }

    /// The destination named `name`, if in force.
    pub fn find(&self, name: &str) -> Option<Destination> {
        self.current().iter().find(|d| d.name == name).cloned()
    }

    /// Every destination as shown to operators: the config file's first, then by name.
    pub fn views(&self) -> Vec<DestinationView> {
        let view = |d: &Destination, source, at: Option<&str>, by: Option<&str>| DestinationView {
            name: d.name.clone(),
            url: display_url(&d.url),
            format: d.format,
            signed: d.secret.as_deref().is_some_and(|s| !s.is_empty()),
            on: d.on.clone(),
            tasks: d.tasks.clone(),
            projects: d.projects.clone(),
            source,
            updated_at: at.map(str::to_string),
            updated_by: by.map(str::to_string),
        };
        let mut out: Vec<DestinationView> = self
            .config
            .iter()
            .map(|d| view(d, "config", None, None))
            .collect();
        let stored = match self.stored.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        out.extend(
            stored
                .iter()
                .filter(|s| !self.is_config(&s.destination.name))
                .map(|s| {
                    view(
                        &s.destination,
                        "api",
                        Some(&s.updated_at),
                        Some(&s.updated_by),
                    )
                }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(name: &str, url: &str) -> Destination {
        Destination {
            name: name.into(),
            url: url.into(),
            format: Format::Slack,
            secret: Some("k".into()),
            on: Kind::ALL.to_vec(),
            tasks: Vec::new(),
            projects: Vec::new(),
        }
    }

    #[test]
    fn urls_are_shown_without_their_path() {
        assert_eq!(
            display_url("https://hooks.example.com/services/T0/B0/SECRET"),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            display_url("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(display_url("http://h/?token=x"), "http://h/…");
        assert_eq!(display_url("not a url"), "(invalid URL)");
    }

    #[test]
    fn stored_destinations_join_the_config_file_and_never_replace_it() {
        let reg = Registry::new(Arc::new(vec![dest("ops", "https://a/x")]));
        assert_eq!(reg.current().len(), 1);
        let stored = |d: Destination| StoredDestination {
            destination: d,
            updated_at: "2026-12-03T10:00:00Z".into(),
            updated_by: "ana".into(),
        };
        reg.set_stored(vec![
            stored(dest("team", "https://b/y")),
            stored(dest("ops", "https://evil/z")),
        ]);
        let now = reg.current();
        assert_eq!(now.len(), 2);
        assert_eq!(reg.find("ops").map(|d| d.url), Some("https://a/x".into()));
        let views = reg.views();
        assert_eq!(views[0].source, "config");
        assert_eq!(views[1].name, "team");
        assert_eq!(views[1].updated_by.as_deref(), Some("ana"));
        assert!(views.iter().all(|v| v.signed && v.url.ends_with("/…")));
        reg.set_stored(Vec::new());
        assert_eq!(reg.current().len(), 1);
    }
}

//! Outgoing notifications: webhook destinations told when a session needs a permission, fails
//! or is lost, and when a task is done.
//!
//! Delivery is durable and never on the ingest path. The runner tails the `feed` table (every
//! state change is a committed feed message) from a cursor kept in the store: in one write
//! transaction it turns the messages after the cursor into queued deliveries (one per matching
//! destination, deduplicated by subject) and moves the cursor. It then sends the deliveries that
//! are due, each with a timeout, and records every attempt; a failed one is retried on an
//! exponential schedule (`backon`) until it succeeds or runs out of attempts. A restart loses
//! nothing: the queue and the cursor are in the database. `GET /api/notifications` is the
//! delivery log.

mod deliver;
mod registry;

pub use registry::{DestinationView, Registry};

use crate::store::SharedStore;
use maestro_shared::api::{Approval, Session, SessionState, Task, TaskStatus};
use maestro_shared::ws::types;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a destination can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A session waits for a permission decision (an approval is pending).
    Permission,
    /// A session failed.
    SessionFailed,
    /// A session's process vanished.
    SessionLost,
    /// A task was moved to done.
    TaskDone,
    /// A task reached its spend limit: its next tool call is held for an operator.
    Budget,
    /// An operator asked for a test message (never queued, never filtered).
    Test,
}

impl Kind {
    /// Every kind (a destination's default).
    pub const ALL: [Kind; 5] = [
        Kind::Permission,
        Kind::SessionFailed,
        Kind::SessionLost,
        Kind::TaskDone,
        Kind::Budget,
    ];

    /// The name used in config, payloads and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Permission => "permission",
            Kind::SessionFailed => "session_failed",
            Kind::SessionLost => "session_lost",
            Kind::TaskDone => "task_done",
            Kind::Budget => "budget",
            Kind::Test => "test",
        }
    }
}

/// The body format of a destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Slack incoming-webhook JSON (`{"text": ...}`).
    Slack,
    /// Maestro's JSON ([`Notification`]), signed when the destination has a `secret`.
    #[default]
    Json,
}

/// One webhook destination (`[[notify]]` in the config file, or added through the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// A unique name (the delivery log names it).
    pub name: String,
    /// Where to POST (`http://` or `https://`).
    pub url: String,
    /// Body format.
    #[serde(default)]
    pub format: Format,
    /// HMAC-SHA256 key for the `X-Maestro-Signature` header (JSON format).
    #[serde(default)]
    pub secret: Option<String>,
    /// What to send (default: everything).
    #[serde(default = "all_kinds")]
    pub on: Vec<Kind>,
    /// Only these tasks (ids; empty: any).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Only sessions whose project dir is one of these or below (empty: any).
    #[serde(default)]
    pub projects: Vec<String>,
}

fn all_kinds() -> Vec<Kind> {
    Kind::ALL.to_vec()
}

impl Destination {
    /// Checks what serde cannot: a usable URL, a unique name.
    pub fn validate(list: &[Destination]) -> Result<(), String> {
        for (i, d) in list.iter().enumerate() {
            if d.name.trim().is_empty() {
                return Err(format!("notify destination #{}: `name` is empty", i + 1));
            }
            if list[..i].iter().any(|o| o.name == d.name) {
                return Err(format!("notify destination `{}`: duplicate name", d.name));
            }
            let parsed = reqwest::Url::parse(&d.url)
                .map_err(|e| format!("notify destination `{}`: url {:?}: {e}", d.name, d.url))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "notify destination `{}`: url must be http:// or https://",
                    d.name
                ));
            }
            if d.on.is_empty() {
                return Err(format!("notify destination `{}`: `on` is empty", d.name));
            }
        }
        Ok(())
    }

    /// What the audit keeps of a change: everything but the secret and the URL's path and
    /// query (a Slack webhook URL is a credential).
    pub(crate) fn audit_view(&self) -> Value {
        serde_json::json!({
            "url": registry::display_url(&self.url),
            "format": self.format,
            "signed": self.secret.as_deref().is_some_and(|s| !s.is_empty()),
            "on": self.on,
            "tasks": self.tasks,
            "projects": self.projects,
        })
    }

    /// Whether this destination wants a notification about `subject`.
    pub(crate) fn wants(&self, n: &Notification) -> bool {
        self.on.contains(&n.kind)
            && (self.tasks.is_empty() || n.task_id.as_ref().is_some_and(|t| self.tasks.contains(t)))
            && (self.projects.is_empty()
                || n.project_dir.as_deref().is_some_and(|p| {
                    self.projects.iter().any(|root| {
                        let root = root.trim_end_matches('/');
                        p == root || p.starts_with(&format!("{root}/"))
                    })
                }))
    }
}

/// What is sent (the JSON format's body; Slack gets `summary` and `link` as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// What happened.
    pub kind: Kind,
    /// One line for a human.
    pub summary: String,
    /// When it happened (the feed message's time).
    pub at: chrono::DateTime<chrono::Utc>,
    /// The task, if any.
    pub task_id: Option<String>,
    /// The session, if any.
    pub session_id: Option<String>,
    /// The approval (permission notifications).
    pub approval_id: Option<String>,
    /// The session's project dir, if known.
    pub project_dir: Option<String>,
    /// Where to look in the Maestro UI.
    pub link: String,
    /// Deduplication key: one notification per subject and kind.
    #[serde(skip)]
    pub key: String,
}

/// One budget notification per task (or task-less session) and limit: every call the agent
/// makes after its limit is held again (after each hold times out), and only the first says
/// something new; a raised limit reached again notifies again.
fn budget_key(a: &Approval) -> String {
    let subject = a.task_id.as_deref().unwrap_or(&a.session_id);
    let limit = a
        .reason
        .split_once("budget reached: ")
        .and_then(|(_, r)| r.split_once(" of "))
        .map(|(_, limit)| limit.split(';').next().unwrap_or(limit).trim())
        .unwrap_or(a.id.as_str());
    format!("budget:{subject}:{limit}")
}

/// The notification a feed message stands for, if any. `project_of` looks up a session's
/// project dir (approvals do not carry it).
pub(crate) fn from_feed(
    kind: &str,
    at: chrono::DateTime<chrono::Utc>,
    data: &Value,
    public_url: &str,
    project_of: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<Notification> {
    let base = public_url.trim_end_matches('/');
    match kind {
        types::APPROVAL_PENDING => {
            let a: Approval = serde_json::from_value(data.clone()).ok()?;
            let budget = crate::decide::is_budget_rule(&a.rule_id);
            Some(Notification {
                kind: if budget {
                    Kind::Budget
                } else {
                    Kind::Permission
                },
                summary: if budget {
                    format!("Budget reached, call held: {} ({})", a.summary, a.reason)
                } else {
                    format!("Permission needed: {}", a.summary)
                },
                at,
                project_dir: project_of(&a.session_id),
                link: format!("{base}/#/session/{}", a.session_id),
                key: if budget {
                    budget_key(&a)
                } else {
                    format!("permission:{}", a.id)
                },
                task_id: a.task_id,
                session_id: Some(a.session_id),
                approval_id: Some(a.id),
            })
        }
        types::SESSION_UPDATED => {
            let s: Session = serde_json::from_value(data.clone()).ok()?;
            let (kind, what) = match s.state {
                SessionState::Failed => (Kind::SessionFailed, "failed"),
                SessionState::Lost => (Kind::SessionLost, "was lost (its process is gone)"),
                _ => return None,
            };
            let reason = s
                .end_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            Some(Notification {
                kind,
                summary: format!(
                    "Session {} {what}{reason}",
                    s.project_dir.as_deref().unwrap_or(&s.id)
                ),
                at,
                link: format!("{base}/#/session/{}", s.id),
                key: format!("{}:{}", kind.as_str(), s.id),
                task_id: s.task_id,
                project_dir: s.project_dir,
                session_id: Some(s.id),
                approval_id: None,
            })
        }
        types::TASK_UPDATED => {
            let t: Task = serde_json::from_value(data.clone()).ok()?;
            (t.status == TaskStatus::Done).then(|| Notification {
                kind: Kind::TaskDone,
                summary: format!("Task done: {}", t.title),
                at,
                link: format!("{base}/#/task/{}", t.id),
                key: format!("task_done:{}", t.id),
                project_dir: t.working_dir,
                task_id: Some(t.id),
                session_id: None,
                approval_id: None,
            })
        }
        _ => None,
    }
}

/// A queued delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// Destination name.
    pub destination: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// What to send.
    pub notification: Notification,
}

/// One row of the delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Row id.
    pub id: i64,
    /// Destination name.
    pub destination: String,
    /// What.
    pub kind: Kind,
    /// The line sent.
    pub summary: String,
    /// `pending`, `delivered`, or `failed` (out of attempts).
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Queued at.
    pub created_at: String,
    /// Delivered at.
    pub delivered_at: Option<String>,
    /// Next attempt (pending only).
    pub next_at: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Most attempts per delivery.
pub const MAX_ATTEMPTS: u32 = 12;
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runner looks for new messages and due deliveries.
const POLL: Duration = Duration::from_millis(500);

/// The delay before attempt `n + 1` after `n` failed ones: exponential from 1 s, capped at
/// 10 minutes, with jitter; `None` when the attempts are used up.
pub(crate) fn retry_delay(failed: u32) -> Option<Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(600))
        .with_jitter()
        .with_max_times(MAX_ATTEMPTS as usize - 1)
        .build()
        .nth(failed.checked_sub(1)? as usize)
}

/// Sends a test message to `dest` now (not queued, not logged): what the operator sees is
/// the outcome of a real POST.
pub async fn send_test(dest: &Destination, operator: &str, public_url: &str) -> Result<(), String> {
    let client = deliver::client(ATTEMPT_TIMEOUT).map_err(|e| format!("HTTP client: {e}"))?;
    let n = Notification {
        kind: Kind::Test,
        summary: format!(
            "Test message from Maestro to destination `{}` (sent by {operator})",
            dest.name
        ),
        at: chrono::Utc::now(),
        task_id: None,
        session_id: None,
        approval_id: None,
        project_dir: None,
        link: format!("{}/#/webhooks", public_url.trim_end_matches('/')),
        key: String::new(),
    };
    deliver::send(&client, dest, &n).await
}

/// Starts the runner; it works while at least one destination is in force (`registry`, read
/// on every pass, so destinations added or removed through the API take effect at once).
pub fn start(
    store: SharedStore,
    registry: Arc<Registry>,
    public_url: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match deliver::client(ATTEMPT_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "notifications: cannot build the HTTP client; none will be sent");
                return;
            }
        };
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(std::sync::Mutex::new(
            std::collections::HashSet::<i64>::new(),
        ));
        loop {
            tick.tick().await;
            let destinations = registry.current();
            if destinations.is_empty() {
                continue;
            }
            // One replica delivers at a time (team mode), so nothing is sent twice.
            match store.hold_lease("notify", POLL * 10).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "notifications: cannot take the lease");
                    continue;
                }
            }
            if let Err(e) = store
                .notify_enqueue(Arc::clone(&destinations), public_url.clone())
                .await
            {
                tracing::warn!(error = %e.chain(), "notifications: cannot queue new messages");
                continue;
            }
            let due = match store.notify_due(64).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "notifications: cannot read the queue");
                    continue;
                }
            };
            for d in due {
                let fresh = in_flight
                    .lock()
                    .map(|mut set| set.insert(d.id))
                    .unwrap_or(false);
                if !fresh {
                    continue;
                }
                let Some(dest) = destinations
                    .iter()
                    .find(|x| x.name == d.destination)
                    .cloned()
                else {
                    // A destination removed from the config or through the API: its queue is
                    // given up.
                    let _ = store
                        .notify_record(d.id, Err("destination no longer configured".into()), None)
                        .await;
                    continue;
                };
                let (store, client, in_flight) =
                    (Arc::clone(&store), client.clone(), Arc::clone(&in_flight));
                tokio::spawn(async move {
                    let outcome = deliver::send(&client, &dest, &d.notification).await;
                    let next = match &outcome {
                        Ok(()) => None,
                        Err(_) => retry_delay(d.attempts + 1),
                    };
                    if let Err(e) = &outcome {
                        tracing::warn!(destination = %dest.name, attempt = d.attempts + 1, error = %e, "notification not delivered");
                    }
                    if let Err(e) = store.notify_record(d.id, outcome, next).await {
                        tracing::warn!(error = %e.chain(), "notifications: cannot record an attempt");
                    }
                    if let Ok(mut set) = in_flight.lock() {
                        set.remove(&d.id);
                    }
                });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dest(on: Vec<Kind>, tasks: Vec<&str>, projects: Vec<&str>) -> Destination {
        Destination {
            name: "d".into(),
            url: "http://127.0.0.1:1/x".into(),
            format: Format::Json,
            secret: None,
            on,
            tasks: tasks.into_iter().map(str::to_string).collect(),
            projects: projects.into_iter().map(str::to_string).collect(),
        }
    }

    fn session(state: &str, project: &str) -> Value {
        json!({"id": "s_1", "claude_session_id": "c", "task_id": "t_1", "state": state,
            "health": "ended", "project_dir": project, "spawned": false,
            "started_at": "2026-11-01T09:00:00Z", "event_count": 3, "end_reason": "boom"})
    }

    #[test]
    fn budget_holds_notify_once_per_task_and_limit() {
        let at = chrono::Utc::now();
        let held = |id: &str, reason: &str| {
            let a = json!({"id": id, "session_id": "s_1", "task_id": "t_1",
                "tool_name": "Bash", "tool_input": {}, "summary": "ls", "rule_id": "hold.budget",
                "reason": reason, "status": "pending", "event": "PreToolUse",
                "created_at": "2026-11-01T09:00:00Z"});
            from_feed(types::APPROVAL_PENDING, at, &a, "u", &mut |_: &str| None)
                .expect("a budget hold notifies")
        };
        let first = held("a_1", "budget reached: $1.02 of $1.00");
        let again = held("a_2", "budget reached: $1.07 of $1.00");
        let mixed = held(
            "a_3",
            "Deploys need a human; also budget reached: $1.09 of $1.00",
        );
        let raised = held("a_4", "budget reached: $2.01 of $2.00");
        assert_eq!(first.kind, Kind::Budget);
        assert_eq!(first.key, "budget:t_1:$1.00");
        assert_eq!(again.key, first.key);
        assert_eq!(mixed.key, first.key);
        assert_eq!(raised.key, "budget:t_1:$2.00");
    }

    #[test]
    fn feed_messages_become_notifications_only_for_what_matters() {
        let at = chrono::Utc::now();
        let mut no_project = |_: &str| None;
        let failed = from_feed(
            types::SESSION_UPDATED,
            at,
            &session("failed", "/p/a"),
            "http://m:1/",
            &mut no_project,
        )
        .expect("a failed session notifies");
        assert_eq!(failed.kind, Kind::SessionFailed);
        assert_eq!(failed.link, "http://m:1/#/session/s_1");
        assert!(failed.summary.contains("boom"), "{}", failed.summary);
        assert_eq!(failed.key, "session_failed:s_1");
        for state in ["active", "completed", "blocked"] {
            assert!(from_feed(
                types::SESSION_UPDATED,
                at,
                &session(state, "/p"),
                "u",
                &mut no_project
            )
            .is_none());
        }
        assert!(from_feed(types::TIMELINE_ITEM, at, &json!({}), "u", &mut no_project).is_none());
        assert!(from_feed(
            types::SESSION_UPDATED,
            at,
            &json!({"junk": 1}),
            "u",
            &mut no_project
        )
        .is_none());
    }

    #[test]
    fn destinations_filter_by_kind_task_and_project() {
        let at = chrono::Utc::now();
        let n = from_feed(
            types::SESSION_UPDATED,
            at,
            &session("lost", "/p/a/b"),
            "u",
            &mut |_| None,
        )
        .expect("lost");
        assert!(dest(Kind::ALL.to_vec(), vec![], vec![]).wants(&n));
        assert!(!dest(vec![Kind::Permission], vec![], vec![]).wants(&n));
        assert!(dest(vec![Kind::SessionLost], vec!["t_1"], vec![]).wants(&n));
        assert!(!dest(vec![Kind::SessionLost], vec!["t_2"], vec![]).wants(&n));
        assert!(dest(vec![Kind::SessionLost], vec![], vec!["/p/a/"]).wants(&n));
        assert!(!dest(vec![Kind::SessionLost], vec![], vec!["/p/ab"]).wants(&n));
    }

    #[test]
    fn the_retry_schedule_grows_and_ends() {
        let first = retry_delay(1).expect("a second attempt");
        let later = retry_delay(6).expect("a seventh attempt");
        assert!(first <= Duration::from_secs(2), "{first:?}");
        assert!(later > first, "{first:?} {later:?}");
        assert!(retry_delay(MAX_ATTEMPTS).is_none(), "attempts run out");
        assert!(retry_delay(0).is_none());
    }

    #[test]
    fn config_validation_names_the_destination() {
        let mut bad = dest(Kind::ALL.to_vec(), vec![], vec![]);
        bad.url = "ftp://x".into();
        let e = Destination::validate(&[bad]).expect_err("ftp");
        assert!(e.contains("`d`"), "{e}");
        let ok = dest(Kind::ALL.to_vec(), vec![], vec![]);
        let e = Destination::validate(&[ok.clone(), ok]).expect_err("duplicate");
        assert!(e.contains("duplicate"), "{e}");
    }
}

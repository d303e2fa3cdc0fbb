//! The approval state machine: every way a held request can end, as one pure function.
//!
//! ```text
//!             operator approve/deny          (final: approved / denied)
//!   pending ──────────────────────────────▶
//!      │  hold timeout                      timed_out ("left to the terminal")
//!      ├──────────────────────────────────▶     │
//!      │  hook connection dropped                │ tool ran ──▶ terminal_allowed (final)
//!      ├──────────────────────────────▶ terminal_denied ── tool ran ──▶ terminal_allowed
//!      │  tool ran (PostToolUse*, batch)         │ tool did not run ──▶ terminal_denied
//!      ├──────────────────────────────▶ terminal_allowed
//!      │  session ended / process gone
//!      └──────────────────────────────▶ cancelled (final; also from timed_out)
//! ```
//!
//! `terminal_denied` can still become `terminal_allowed`: an event that proves the tool ran
//! (a PostToolUse replayed late from the hook's spool) is stronger evidence than a dropped
//! connection. Every other combination is refused (`None`): the caller answers an operator
//! with 409 and ignores a duplicate or late event.

use maestro_shared::api::ApprovalStatus;

/// What happened to a held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /api/approvals/{id}` by an operator.
    Operator {
        /// Approve (true) or deny.
        approve: bool,
    },
    /// Nobody decided in Maestro within the hold: the hook answered nothing and Claude Code's
    /// own dialog decides.
    HoldTimeout,
    /// The held hook's connection dropped before a decision: Claude Code killed it, which it
    /// does when the user answers "No" or presses Escape at its own dialog.
    HookGone,
    /// An event of the raising process shows the tool ran (PostToolUse, PostToolUseFailure,
    /// a PostToolBatch entry of a call that ran): the dialog was answered "Yes".
    ToolRan,
    /// An event of the raising process shows the dialog is gone and the tool did not run (a
    /// PostToolBatch entry of a call that never ran, Stop, StopFailure, a new prompt).
    ToolNotRun,
    /// The session ended (SessionEnd from the raising process, the CLI process exited or is
    /// gone): nobody can receive an answer any more.
    SessionGone,
}

/// The result of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The new status.
    pub status: ApprovalStatus,
    /// Who decided, for the audit (`operator`, `timeout`, `terminal`; the caller names the
    /// end of a session).
    pub decided_by: &'static str,
}

/// The next status of an approval in `from` on `trigger`, or `None` when the trigger does
/// not apply (already decided, a duplicate, a late event).
pub fn next(from: ApprovalStatus, trigger: Trigger) -> Option<Step> {
    use ApprovalStatus as S;
    use Trigger as T;
    let (status, decided_by) = match (from, trigger) {
        (S::Pending, T::Operator { approve: true }) => (S::Approved, "operator"),
        (S::Pending, T::Operator { approve: false }) => (S::Denied, "operator"),
        (S::Pending, T::HoldTimeout) => (S::TimedOut, "timeout"),
        (S::Pending, T::HookGone) => (S::TerminalDenied, "terminal"),
        (S::Pending | S::TimedOut | S::TerminalDenied, T::ToolRan) => {
            (S::TerminalAllowed, "terminal")
        }
        (S::Pending | S::TimedOut, T::ToolNotRun) => (S::TerminalDenied, "terminal"),
        (S::Pending | S::TimedOut, T::SessionGone) => (S::Cancelled, "session ended"),
        _ => return None,
    };
    Some(Step { status, decided_by })
}

/// A human phrase for a status, as the audit line and 409 messages say it.
pub fn describe(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved by the operator",
        ApprovalStatus::Denied => "denied by the operator",
        ApprovalStatus::TimedOut => "not decided in Maestro in time (left to the terminal)",
        ApprovalStatus::TerminalAllowed => "answered in the terminal (allowed)",
        ApprovalStatus::TerminalDenied => "answered in the terminal (denied or dismissed)",
        ApprovalStatus::Cancelled => "cancelled (the session ended)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApprovalStatus as S;
    use Trigger as T;

    const ALL_TRIGGERS: [Trigger; 7] = [
        T::Operator { approve: true },
        T::Operator { approve: false },
        T::HoldTimeout,
        T::HookGone,
        T::ToolRan,
        T::ToolNotRun,
        T::SessionGone,
    ];

    /// Runs triggers in order from pending; returns the final status.
    fn run(triggers: &[Trigger]) -> ApprovalStatus {
        triggers
            .iter()
            .fold(S::Pending, |s, t| next(s, *t).map_or(s, |st| st.status))
    }

    fn permutations(items: &[Trigger]) -> Vec<Vec<Trigger>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let head = rest.remove(i);
            for mut p in permutations(&rest) {
                p.insert(0, head);
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn operator_decisions_only_from_pending() {
        assert_eq!(run(&[T::Operator { approve: true }]), S::Approved);
        assert_eq!(run(&[T::Operator { approve: false }]), S::Denied);
        for from in [
            S::Approved,
            S::Denied,
            S::TimedOut,
            S::TerminalAllowed,
            S::TerminalDenied,
            S::Cancelled,
        ] {
            assert_eq!(next(from, T::Operator { approve: true }), None, "{from:?}");
            assert_eq!(next(from, T::Operator { approve: false }), None, "{from:?}");
        }
    }

    #[test]
    fn tool_ran_before_or_after_the_hook_disconnects_ends_allowed_in_the_terminal() {
        assert_eq!(run(&[T::ToolRan, T::HookGone]), S::TerminalAllowed);
        assert_eq!(run(&[T::HookGone, T::ToolRan]), S::TerminalAllowed);
        assert_eq!(run(&[T::HookGone]), S::TerminalDenied);
        assert_eq!(run(&[T::HookGone, T::ToolNotRun]), S::TerminalDenied);
    }

    #[test]
    fn after_the_hold_timeout_the_terminal_decides() {
        assert_eq!(run(&[T::HoldTimeout]), S::TimedOut);
        assert_eq!(run(&[T::HoldTimeout, T::ToolRan]), S::TerminalAllowed);
        assert_eq!(run(&[T::HoldTimeout, T::ToolNotRun]), S::TerminalDenied);
        assert_eq!(
            run(&[T::HoldTimeout, T::HookGone]),
            S::TimedOut,
            "the hook already answered"
        );
        assert_eq!(run(&[T::HoldTimeout, T::SessionGone]), S::Cancelled);
    }

    #[test]
    fn an_operator_racing_a_terminal_answer_loses_once_the_terminal_won() {
        assert_eq!(
            run(&[T::ToolRan, T::Operator { approve: false }]),
            S::TerminalAllowed
        );
        assert_eq!(
            run(&[T::Operator { approve: false }, T::ToolRan]),
            S::Denied
        );
        assert_eq!(
            run(&[T::HookGone, T::Operator { approve: true }]),
            S::TerminalDenied
        );
    }

    #[test]
    fn duplicates_and_replays_change_nothing() {
        for t in ALL_TRIGGERS {
            let once = run(&[t]);
            assert_eq!(run(&[t, t]), once, "{t:?} twice");
            assert_eq!(run(&[t, t, t]), once, "{t:?} three times");
        }
    }

    /// Every order of every trigger: the end state is reached by legal steps only, final
    /// states never change, and tool-ran evidence wins over a dropped connection.
    #[test]
    fn every_order_of_events_ends_in_a_consistent_state() {
        let finals = [S::Approved, S::Denied, S::TerminalAllowed, S::Cancelled];
        for order in permutations(&ALL_TRIGGERS) {
            let mut s = S::Pending;
            for t in &order {
                let before = s;
                if let Some(step) = next(s, *t) {
                    assert!(
                        !finals.contains(&before),
                        "{before:?} is final, moved by {t:?} in {order:?}"
                    );
                    s = step.status;
                }
            }
            assert_ne!(s, S::Pending, "{order:?} left it pending");
            let first_decisive = order
                .iter()
                .find(|t| next(S::Pending, **t).is_some())
                .copied()
                .expect("a trigger");
            match first_decisive {
                T::Operator { approve: true } => assert_eq!(s, S::Approved, "{order:?}"),
                T::Operator { approve: false } => assert_eq!(s, S::Denied, "{order:?}"),
                T::ToolRan => assert_eq!(s, S::TerminalAllowed, "{order:?}"),
                _ => {}
            }
            let ran = order.iter().position(|t| *t == T::ToolRan);
            let operator = order.iter().position(|t| matches!(t, T::Operator { .. }));
            let gone = order.iter().position(|t| *t == T::SessionGone);
            // If the tool ran before any operator answer or session end, the audit says so.
            if let Some(r) = ran {
                if operator.is_none_or(|o| r < o) && gone.is_none_or(|g| r < g) {
                    assert_eq!(s, S::TerminalAllowed, "{order:?}");
                }
            }
        }
    }

    #[test]
    fn every_status_has_a_phrase() {
        for s in [
            S::Pending,
            S::TimedOut,
            S::TerminalDenied,
            S::Approved,
            S::Denied,
            S::TerminalAllowed,
            S::Cancelled,
        ] {
            assert!(!describe(s).is_empty());
        }
    }
}

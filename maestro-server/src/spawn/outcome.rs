//! What a spawned session's final stream-json `result` record says, told as it is: a run whose
//! result has `is_error: true` is an error (Claude Code still writes `subtype: "success"` for
//! an API error), an API error names its HTTP status, and calls refused without asking
//! (`permission_denials`) are counted and named rather than hidden behind "success".

use serde_json::Value;

/// The verdict of a `result` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `is_error: true`.
    pub is_error: bool,
    /// `api_error_status` (HTTP status of the failing Messages API call).
    pub api_status: Option<i64>,
    /// Tools whose calls were denied, in order (one entry per denial).
    pub denied_tools: Vec<String>,
}

impl Outcome {
    /// Reads a `result` record.
    pub fn of(result: &Value) -> Outcome {
        let denied_tools = result
            .get("permission_denials")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .map(|x| {
                        x.get("tool_name")
                            .and_then(Value::as_str)
                            .unwrap_or("a tool")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Outcome {
            is_error: result.get("is_error").and_then(Value::as_bool) == Some(true),
            api_status: result.get("api_error_status").and_then(Value::as_i64),
            denied_tools,
        }
    }

    /// `error (API error 400)`, `error`, or `success`/the subtype.
    pub fn verdict(&self, subtype: Option<&str>) -> String {
        if self.is_error {
            match self.api_status {
                Some(code) => format!("error (API error {code})"),
                None => match subtype {
                    Some(s) if s != "success" => format!("error ({})", s.replace('_', " ")),
                    _ => "error".to_string(),
                },
            }
        } else {
            subtype.unwrap_or("finished").replace('_', " ")
        }
    }

    /// `2 permission denials (Write, Bash)`, when there were any.
    pub fn denials(&self) -> Option<String> {
        if self.denied_tools.is_empty() {
            return None;
        }
        let mut tools: Vec<&str> = Vec::new();
        for t in &self.denied_tools {
            if !tools.contains(&t.as_str()) {
                tools.push(t);
            }
        }
        let n = self.denied_tools.len();
        Some(format!(
            "{n} permission denial{} ({})",
            if n == 1 { "" } else { "s" },
            tools.join(", ")
        ))
    }

    /// The timeline status of the process line: `error` for an error result, `warning` when
    /// calls were refused, else `ok`.
    pub fn status(&self) -> &'static str {
        if self.is_error {
            "error"
        } else if self.denied_tools.is_empty() {
            "ok"
        } else {
            "warning"
        }
    }

    /// The end reason for an error result (`API error 400: <first line of the result>`).
    pub fn error_reason(&self, result: &Value) -> Option<String> {
        if !self.is_error {
            return None;
        }
        let text = result
            .get("result")
            .and_then(Value::as_str)
            .and_then(|t| t.lines().find(|l| !l.trim().is_empty()))
            .map(|l| l.chars().take(160).collect::<String>());
        let head = match self.api_status {
            Some(code) => format!("API error {code}"),
            None => "error result".to_string(),
        };
        Some(match text {
            Some(t) => format!("{head}: {t}"),
            None => head,
        })
    }
}

/// One line for the timeline: `error (API error 400), 2 turns, $0.0100` or
/// `success, 3 turns, $0.0100, 2 permission denials (Write, Edit)`.
pub fn summarize(result: &Value) -> String {
    let o = Outcome::of(result);
    let mut parts = vec![o.verdict(result.get("subtype").and_then(Value::as_str))];
    if let Some(n) = result.get("num_turns").and_then(Value::as_i64) {
        parts.push(format!("{n} turn{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(c) = result.get("total_cost_usd").and_then(Value::as_f64) {
        parts.push(format!("${c:.4}"));
    }
    parts.extend(o.denials());
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_clean_run_is_a_success() {
        let r = json!({"type": "result", "subtype": "success", "is_error": false,
            "num_turns": 3, "total_cost_usd": 0.01, "permission_denials": []});
        assert_eq!(summarize(&r), "success, 3 turns, $0.0100");
        assert_eq!(Outcome::of(&r).status(), "ok");
        assert_eq!(Outcome::of(&r).error_reason(&r), None);
    }

    #[test]
    fn an_api_error_is_an_error_with_its_status() {
        let r = json!({"type": "result", "subtype": "success", "is_error": true,
            "api_error_status": 400, "num_turns": 2,
            "result": "API Error: 400 fake api: bad request"});
        assert_eq!(summarize(&r), "error (API error 400), 2 turns");
        let o = Outcome::of(&r);
        assert_eq!(o.status(), "error");
        assert_eq!(
            o.error_reason(&r).as_deref(),
            Some("API error 400: API Error: 400 fake api: bad request")
        );
        let other = json!({"subtype": "error_max_turns", "is_error": true});
        assert_eq!(summarize(&other), "error (error max turns)");
    }

    #[test]
    fn permission_denials_are_named() {
        let r = json!({"subtype": "success", "is_error": false, "num_turns": 3,
            "permission_denials": [
                {"tool_name": "Write", "tool_use_id": "t1", "tool_input": {}},
                {"tool_name": "Write", "tool_use_id": "t2", "tool_input": {}},
                {"tool_name": "Bash", "tool_use_id": "t3", "tool_input": {}}]});
        assert_eq!(
            summarize(&r),
            "success, 3 turns, 3 permission denials (Write, Bash)"
        );
        assert_eq!(Outcome::of(&r).status(), "warning");
    }
}

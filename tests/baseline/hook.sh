#!/usr/bin/env bash
# Baseline for benchmarks ONLY: the bash + jq + curl hook that the original design used and
# that maestro-hook replaces. It reads the hook JSON on stdin, wraps it in the v1 envelope
# with jq and POSTs it with curl. No spool, no decisions, no retries.
#
# Usage: hook.sh <EventName> < payload.json
# Env:   MAESTRO_URL (default http://127.0.0.1:8420), MAESTRO_TOKEN (default: the server's
#        ingest.token), MAESTRO_SESSION_ID, MAESTRO_TASK_ID, CLAUDE_PID, CLAUDE_PROJECT_DIR,
#        CLAUDE_CODE_ENTRYPOINT.
set -u

event="${1:-unknown}"
url="${MAESTRO_URL:-http://127.0.0.1:8420}"
token="${MAESTRO_TOKEN:-$(cat "${MAESTRO_DATA_DIR:-$HOME/.local/share/maestro}/ingest.token" 2>/dev/null)}"

payload="$(cat)"

body="$(jq -c \
  --arg event "$event" \
  --arg id "$(cat /proc/sys/kernel/random/uuid)" \
  --arg at "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" \
  --arg host "$(cat /proc/sys/kernel/hostname 2>/dev/null)" \
  --arg user "${USER:-}" \
  --arg pid "${CLAUDE_PID:-}" \
  --arg project "${CLAUDE_PROJECT_DIR:-}" \
  --arg entry "${CLAUDE_CODE_ENTRYPOINT:-}" \
  --arg msid "${MAESTRO_SESSION_ID:-}" \
  --arg mtid "${MAESTRO_TASK_ID:-}" \
  'def nonempty: with_entries(select(.value != null and .value != ""));
   {v: 1, event_id: $id, captured_at: $at, event: $event,
    source: ({host: $host, user: $user, claude_pid: ($pid | tonumber? // null),
              project_dir: $project, entrypoint: $entry} | nonempty),
    maestro: ({session_id: $msid, task_id: $mtid} | nonempty),
    payload: .}' <<<"$payload" 2>/dev/null)"

if [ -n "$body" ]; then
  curl -sS -m 1 --connect-timeout 0.5 -o /dev/null \
    -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' \
    --data-binary @- \
    "$url/api/webhooks/hook-event" <<<"$body" || true
fi
exit 0

// Formatting helpers: times, durations, labels. Pure functions, no DOM.

export function parseTime(t) {
  if (!t) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

// Intl formatters are expensive to build: make each once (toLocale*String with options
// builds one per call, which dominates rendering thousands of lines).
const CLOCK = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const DAY = new Intl.DateTimeFormat([], { month: 'short', day: 'numeric' });
const FULL = new Intl.DateTimeFormat([], {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

export function clockTime(t) {
  const d = parseTime(t);
  if (!d) return '';
  return CLOCK.format(d);
}

export function dateTime(t) {
  const d = parseTime(t);
  if (!d) return '—';
  return FULL.format(d);
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h ${m}m ${s}s`;
  if (m) return `${m}m ${s}s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function ms(v) {
  if (v === null || v === undefined) return '—';
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} s`;
  return `${Math.round(v)} ms`;
}

export function relative(t) {
  const d = parseTime(t);
  if (!d) return '';
  const diff = (Date.now() - d.getTime()) / 1000;
  if (diff < 5) return 'just now';
  if (diff < 60) return `${Math.floor(diff)}s ago`;
  if (diff < 3600) return `${Math.floor(diff / 60)}m ago`;
  if (diff < 86400) return `${Math.floor(diff / 3600)}h ago`;
  return `${Math.floor(diff / 86400)}d ago`;
}

export const STATUS_LABELS = {
  todo: 'To do',
  in_progress: 'In progress',
  blocked: 'Blocked',
  done: 'Done',
};

export const STATUS_ORDER = ['todo', 'in_progress', 'blocked', 'done'];

export const STATE_LABELS = {
  queued: 'Queued',
  starting: 'Starting',
  active: 'Active',
  blocked: 'Blocked',
  waiting_for_input: 'Waiting for input',
  completed: 'Completed',
  failed: 'Failed',
  lost: 'Lost',
};

/** A session's state as people say it: an operator's stop is "Stopped", not "Failed". */
export function stateLabel(s) {
  if (!s) return '';
  if (s.state === 'failed' && typeof s.end_reason === 'string' && s.end_reason.startsWith('stopped by')) {
    return 'Stopped';
  }
  return STATE_LABELS[s.state] || s.state;
}

export const HEALTH_LABELS = {
  active: 'Active',
  idle: 'Idle (5+ min)',
  stale: 'Stale (15+ min)',
  ended: 'Ended',
  none: 'No sessions',
};

/** `s_0193…` ids are time-ordered UUIDs: their tail is what tells them apart. */
export function shortId(id) {
  if (!id) return '';
  const i = id.indexOf('_');
  const p = i > 0 ? id.slice(0, i) : '';
  const rest = (i > 0 ? id.slice(i + 1) : id).replace(/-/g, '');
  return p ? `${p}_${rest.slice(-8)}` : rest.slice(-8);
}

/** Short date-time: "08:53:19" today, "Nov 24 08:53" otherwise. */
export function shortDateTime(t) {
  const d = parseTime(t);
  if (!d) return '—';
  const today = new Date();
  const time = CLOCK.format(d);
  if (d.toDateString() === today.toDateString()) return `${time} today`;
  return `${DAY.format(d)} ${time}`;
}

/** What a tool call is about: command, path or pattern. */
export function toolSubject(input) {
  if (!input || typeof input !== 'object') return input ? String(input) : '';
  for (const k of ['command', 'file_path', 'path', 'notebook_path', 'url', 'pattern', 'query', 'prompt', 'description']) {
    if (typeof input[k] === 'string' && input[k]) return input[k];
  }
  return JSON.stringify(input);
}

/** Text of a timeline item's detail: the error when there is one, else pretty JSON. */
export function detailText(detail) {
  if (detail === null || detail === undefined) return '';
  if (typeof detail !== 'object') return String(detail);
  const lines = [];
  if (typeof detail.error === 'string' && detail.error) lines.push(detail.error, '');
  for (const [k, v] of Object.entries(detail)) {
    if (k === 'error' && typeof v === 'string') continue;
    if (v === null || v === undefined || v === '') continue;
    lines.push(`${k.replace(/_/g, ' ')}: ${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}`);
  }
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}

export function pct(rate) {
  if (rate === null || rate === undefined) return '—';
  const p = rate * 100;
  return `${Math.abs(p - Math.round(p)) < 0.05 ? p.toFixed(0) : p.toFixed(1)}%`;
}

// Characters that change how text is displayed without being visible: C0/C1 controls (but tab
// and newline), bidi embeddings, overrides and isolates, and zero-width characters. A command
// shown for approval must read as what will run ("Trojan Source"), so each is shown as an
// escape such as ⟪U+202E⟫.
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** `text` with every invisible or direction-changing character shown as ⟪U+XXXX⟫. */
export function reveal(text) {
  if (text === null || text === undefined) return text;
  return String(text).replace(INVISIBLE, (c) =>
    `⟪U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}⟫`);
}

/** "1 event", "2 events". */
export function plural(n, word) {
  const count = Number(n) || 0;
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

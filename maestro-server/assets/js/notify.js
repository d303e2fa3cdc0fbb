// Desktop notifications (opt-in): when the Maestro tab is not in front, a session that needs a
// permission, fails or finishes raises a browser notification (and, if chosen, a short
// sound); clicking it brings the tab forward and opens the approval or the session.
// Settings are per browser (localStorage). Notification text is plain text by the API.

import { state, on } from './store.js';
import { openApproval } from './approvals.js';
import { reveal, shortId } from './format.js';

const KEY_ON = 'maestro.notify';
const KEY_SOUND = 'maestro.notify.sound';

/** Fired notifications (read by the browser tests). */
export const fired = [];
window.__maestroNotified = fired;

function setting(key) {
  try {
    return localStorage.getItem(key) === '1';
  } catch {
    return false;
  }
}

function store(key, on) {
  try {
    localStorage.setItem(key, on ? '1' : '0');
  } catch { /* private mode: the setting lasts for this page */ }
}

function supported() {
  return typeof window.Notification === 'function';
}

/** Whether notifications are on and allowed. */
export function enabled() {
  return supported() && setting(KEY_ON) && window.Notification.permission === 'granted';
}

/** The operator is not looking at this tab. */
function away() {
  return document.visibilityState !== 'visible' || !document.hasFocus();
}

let audio = null;
function beep() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch { /* no audio */ }
}

/** Raises one notification (when enabled and the tab is not in front). */
export function notify({ title, body, tag, open }) {
  if (!enabled() || !away()) return null;
  let n;
  try {
    n = new window.Notification(title, { body: reveal(body || ''), tag, renotify: false });
  } catch {
    return null;
  }
  n.onclick = () => {
    window.focus();
    if (open) open();
    if (typeof n.close === 'function') n.close();
  };
  fired.push({ title, body, tag });
  if (setting(KEY_SOUND)) beep();
  return n;
}

function sessionLabel(s) {
  const t = s.task_id && state.tasks.get(s.task_id);
  return t ? t.title : `session ${shortId(s.id)}`;
}

function renderButtons(bell, sound) {
  const on = enabled();
  bell.setAttribute('aria-pressed', String(on));
  bell.title = !supported() ? 'This browser has no desktop notifications'
    : window.Notification.permission === 'denied' ? 'Notifications are blocked for this site in the browser settings'
      : on ? 'Desktop notifications on (click to turn off)' : 'Desktop notifications off (click to turn on)';
  bell.setAttribute('aria-label', on ? 'Desktop notifications: on' : 'Desktop notifications: off');
  sound.hidden = !on;
  const s = setting(KEY_SOUND);
  sound.setAttribute('aria-pressed', String(s));
  sound.setAttribute('aria-label', s ? 'Notification sound: on' : 'Notification sound: off');
  sound.title = s ? 'Sound on (click to mute)' : 'Sound off (click to turn on)';
}

/** Wires the top-bar toggles and the feed. */
export function initNotifications() {
  const bell = document.getElementById('notify-btn');
  const sound = document.getElementById('sound-btn');
  if (!bell || !sound) return;
  bell.addEventListener('click', async () => {
    if (!supported()) return;
    if (enabled()) {
      store(KEY_ON, false);
    } else {
      let p = window.Notification.permission;
      if (p === 'default') {
        try {
          p = await window.Notification.requestPermission();
        } catch {
          p = 'denied';
        }
      }
      store(KEY_ON, p === 'granted');
    }
    renderButtons(bell, sound);
    bell.focus();
  });
  sound.addEventListener('click', () => {
    store(KEY_SOUND, !setting(KEY_SOUND));
    renderButtons(bell, sound);
    if (setting(KEY_SOUND)) beep();
  });
  renderButtons(bell, sound);

  const states = new Map();
  on('sessions', () => {
    for (const s of state.sessions.values()) {
      const before = states.get(s.id);
      states.set(s.id, s.state);
      if (before === undefined || before === s.state) continue;
      const open = () => { location.hash = `#/session/${encodeURIComponent(s.id)}`; };
      if (s.state === 'failed') {
        notify({ title: `Session failed · ${sessionLabel(s)}`, body: s.end_reason || 'The session ended with an error.', tag: `session:${s.id}`, open });
      } else if (s.state === 'completed') {
        notify({ title: `Session finished · ${sessionLabel(s)}`, body: 'The session completed.', tag: `session:${s.id}`, open });
      }
    }
  });
  on('approvals', (ev) => {
    const a = ev && ev.pending;
    if (!a) return;
    const t = a.task_id && state.tasks.get(a.task_id);
    notify({
      title: `Permission needed${t ? ` · ${t.title}` : ''}`,
      body: a.summary,
      tag: `approval:${a.id}`,
      open: () => { const cur = state.approvals.get(a.id); if (cur) openApproval(cur); },
    });
  });
  document.addEventListener('visibilitychange', () => renderButtons(bell, sound));
}

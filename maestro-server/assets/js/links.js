// Deep links: a view's filters live in the URL's hash (`#/activity?q=cargo&status=error`), so
// a reload or a shared link opens the same view with the same filters.

/** The parameters of the current hash (`#/view?a=1` -> {a: '1'}). */
export function hashParams() {
  const hash = location.hash || '';
  const i = hash.indexOf('?');
  const out = {};
  if (i < 0) return out;
  for (const [k, v] of new URLSearchParams(hash.slice(i + 1))) out[k] = v;
  return out;
}

/** The hash of `view` with the non-empty `params`, in a stable order. */
export function viewHash(view, params) {
  const q = new URLSearchParams();
  for (const k of Object.keys(params).sort()) {
    const v = params[k];
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `#/${view}?${s}` : `#/${view}`;
}

/** Replaces the URL's hash without a new history entry or a route change. */
export function replaceHash(hash) {
  if (location.hash === hash) return;
  history.replaceState(history.state, '', hash);
}

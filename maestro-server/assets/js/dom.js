// Tiny DOM builder. Text always goes through text nodes / textContent; attributes through
// setAttribute or properties. Never innerHTML, never string-built markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') throw new Error('inline styles are not allowed (CSP)');
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Creates an HTML element: h('div', {class: 'x'}, 'text', child, ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Creates an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replaces all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Sets text only when it changed (keeps selection and avoids layout work). */
export function setText(el, text) {
  const t = text === null || text === undefined ? '' : String(text);
  if (el.textContent !== t) el.textContent = t;
}

/**
 * Coalesces calls: the first change after a quiet period renders at the end of the current
 * task (no frame of latency); a burst renders at most once per animation frame.
 */
export function rafThrottle(fn) {
  let queued = false;
  let last = -1e9;
  return () => {
    if (queued) return;
    queued = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      queued = false;
      last = performance.now();
      fn();
    };
    if (performance.now() - last > 50) {
      queueMicrotask(run);
    } else {
      requestAnimationFrame(run);
      // rAF is paused in background tabs: a timer makes sure the work still happens.
      setTimeout(run, 100);
    }
  };
}

const SVG_ICONS = {
  trash: 'M3 6h18M8 6V4h8v2m-9 0 1 14h8l1-14',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  left: 'M15 6l-6 6 6 6',
  right: 'M9 6l6 6-6 6',
};

/** A small stroked SVG icon (decorative). */
export function icon(name) {
  return s('svg', { class: 'icon', viewBox: '0 0 24 24', width: '16', height: '16', 'aria-hidden': 'true', focusable: 'false' },
    s('path', { d: SVG_ICONS[name] || '', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));
}

/** Debounce. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

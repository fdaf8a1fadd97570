// SPDX-License-Identifier: MIT
// What every page shares: the API client (session cookie + CSRF token), building elements
// without innerHTML, times in a task's zone and the viewer's, and the status colours.

export const session = { user: null, role: null, csrf: null };

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    this.body = body || {};
  }
}

// api('GET', '/api/tasks') -> the JSON answer; throws ApiError. Changes carry the CSRF token.
export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                  credentials: 'same-origin' });
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = { error: text }; }
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/session') window.dispatchEvent(new Event('signed-out'));
    throw new ApiError(res.status, doc);
  }
  return doc;
}

// h('a', {href: '#/x'}, 'text', child...): an element; attributes starting with "on" are listeners.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

// An instant shown in zone (the task's), with the viewer's zone on hover; "-" for none.
export function when(iso, zone) {
  if (!iso) return h('span', { class: 'muted' }, '-');
  const d = new Date(iso);
  const fmt = (z) => new Intl.DateTimeFormat('en-CA', { timeZone: z, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).format(d);
  const shown = fmt(zone || viewerZone);
  return h('time', { datetime: iso, title: `${fmt(viewerZone)} (${viewerZone}, your zone)` }, shown);
}

export function ms(n) {
  if (n === null || n === undefined) return '-';
  return n < 1000 ? `${n} ms` : n < 60000 ? `${(n / 1000).toFixed(1)} s` : `${(n / 60000).toFixed(1)} min`;
}

export function status(s) {
  return h('span', { class: `status s-${s}` }, s.replace('_', ' '));
}

export function strip(statuses) {
  return h('span', { class: 'strip', role: 'img', 'aria-label': `last runs: ${statuses.join(', ') || 'none'}` },
    statuses.map((s) => h('i', { class: `s-${s}`, title: s })));
}

// The route's query: '#/runs?status=failed' -> URLSearchParams.
export function routeQuery() {
  const q = location.hash.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : location.hash.slice(q + 1));
}

export function setRouteQuery(path, params) {
  const q = new URLSearchParams([...params].filter(([, v]) => v !== '' && v !== null));
  const next = `#${path}${q.toString() ? '?' + q : ''}`;
  if (location.hash !== next) history.replaceState(null, '', next);
}

// Runs an async fn one call at a time: a call made while another is in flight starts when it ends.
// A view's loader is called by live() and after an action; without this a slow earlier load could
// draw its older answer over the newer one (a requeued run back in the dead set, say).
export function oneAtATime(fn) {
  let last = Promise.resolve();
  return (...args) => (last = last.catch(() => {}).then(() => fn(...args)));
}

// Repeats fn every 2 s while the page shows and this view is current; returns a stop function.
export function live(fn) {
  let timer = null, stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) { try { await fn(); } catch { /* shown by fn */ } }
    if (!stopped) timer = setTimeout(tick, 2000);
  };
  timer = setTimeout(tick, 2000);
  return () => { stopped = true; clearTimeout(timer); };
}

export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.message : String(e));
}

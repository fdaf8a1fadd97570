// SPDX-License-Identifier: MIT
// The dashboard's shell: sign-in, the header, and the hash router that mounts a page
// (pages/*.js: each exports render(main, params) and may return a function that unmounts it).
import { api, h, session, ApiError, errorBox } from './lib.js';
import * as tasks from './pages/tasks.js';
import * as task from './pages/task.js';
import * as runs from './pages/runs.js';
import * as run from './pages/run.js';
import * as create from './pages/new.js';
import * as overview from './pages/overview.js';
import * as workers from './pages/workers.js';
import * as usage from './pages/usage.js';
import * as keys from './pages/keys.js';

const main = document.getElementById('main');
let unmount = null;

const routes = [
  [/^\/tasks$/, tasks], [/^\/tasks\/(\d+)$/, task], [/^\/runs$/, runs], [/^\/runs\/(\d+)$/, run],
  [/^\/new$/, create], [/^\/overview$/, overview], [/^\/workers$/, workers], [/^\/usage$/, usage],
  [/^\/usage\/(\d+)$/, usage], [/^\/keys$/, keys],
];

function showSignIn(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'current-password', size: 40,
                             required: true, 'aria-describedby': 'sign-in-help' });
  const out = h('div', { 'aria-live': 'polite' }, message ? h('p', { class: 'error' }, message) : null);
  const form = h('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const me = await api('POST', '/api/session', { apiKey: input.value.trim() });
      signedIn(me);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  h('h1', {}, 'Sign in'),
  h('label', { for: 'api-key' }, 'API key'), input,
  h('p', { id: 'sign-in-help', class: 'muted' }, 'The key `agentcron keys create USER` printed (ak_…). It is exchanged for a session; the page never keeps it.'),
  h('button', { class: 'primary', type: 'submit' }, 'Sign in'), out);
  main.replaceChildren(form);
  input.focus();
}

function signedIn(me) {
  session.user = me.user; session.role = me.role; session.csrf = me.csrfToken;
  document.getElementById('nav').hidden = false;
  document.getElementById('nav-workers').hidden = me.role !== 'operator';
  document.getElementById('who').replaceChildren(
    h('span', {}, `${me.user.email}${me.role === 'operator' ? ' (operator)' : ''}`),
    h('button', { type: 'button', id: 'sign-out', onclick: async () => {
      try { await api('DELETE', '/api/session'); } catch { /* ended anyway */ }
      session.csrf = null;
      showSignIn('Signed out.');
    } }, 'Sign out'));
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/overview';
  else route();
}

async function route() {
  if (unmount) { unmount(); unmount = null; }
  if (!session.csrf) return;
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/tasks';
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try { unmount = (await page.render(main, m.slice(1))) || null; } catch (e) { main.replaceChildren(errorBox(e)); }
    document.title = `${main.querySelector('h1')?.textContent || 'agentcron'} · agentcron`;
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/tasks' }, 'Schedules')));
}

window.addEventListener('hashchange', route);
window.addEventListener('signed-out', () => { session.csrf = null; showSignIn('Your session has ended: sign in again.'); });

try {
  const me = await api('GET', '/api/session');
  if (me.csrfToken) signedIn(me); else showSignIn();
} catch (e) {
  showSignIn(e instanceof ApiError && e.status === 401 ? null : e.message);
}

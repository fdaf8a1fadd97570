// SPDX-License-Identifier: MIT
// Schedules: every task the signed-in key may see, its schedule in words, next three fire times
// (the task's zone; the viewer's on hover), the last 20 outcomes, and pause, resume, run now.
// Search and filters live in the URL.
import { api, h, when, strip, routeQuery, setRouteQuery, live, errorBox, session, oneAtATime } from '../lib.js';

export async function render(main) {
  const q = routeQuery();
  const search = h('input', { id: 'q', type: 'search', value: q.get('q') || '', placeholder: 'title or expression' });
  const agent = h('input', { id: 'agent', value: q.get('agent') || '', size: 12 });
  const state = h('select', { id: 'state' }, ['', 'active', 'paused'].map((s) =>
    h('option', { value: s, selected: (q.get('state') || '') === s }, s || 'any')));
  const table = h('div', { 'aria-live': 'polite' });
  const message = h('div', { role: 'status' });

  const load = oneAtATime(async () => {
    const params = new URLSearchParams({ q: search.value, agent: agent.value, state: state.value });
    setRouteQuery('/tasks', params);
    for (const [k, v] of [...params]) if (!v) params.delete(k);
    const doc = await api('GET', `/api/tasks?limit=200&${params}`);
    table.replaceChildren(list(doc.tasks, load, message));
  });
  const form = h('form', { class: 'row', role: 'search', onsubmit: (ev) => { ev.preventDefault(); load().catch((e) => message.replaceChildren(errorBox(e))); } },
    h('div', {}, h('label', { for: 'q' }, 'Search'), search),
    h('div', {}, h('label', { for: 'agent' }, 'Agent'), agent),
    h('div', {}, h('label', { for: 'state' }, 'State'), state),
    h('button', { type: 'submit' }, 'Filter'));
  main.replaceChildren(h('h1', {}, 'Schedules'), form, message, table);
  await load();
  return live(load);
}

function list(tasks, reload, message) {
  if (!tasks.length) return h('p', { class: 'muted' }, 'No tasks match. ', h('a', { href: '#/new' }, 'Create one'), '.');
  const act = (path, label) => async () => {
    try { const r = await api('POST', path); await reload(); message.replaceChildren(h('p', {}, label(r))); }
    catch (e) { message.replaceChildren(errorBox(e)); }
  };
  return h('table', {},
    h('thead', {}, h('tr', {}, ['Task', 'Schedule', 'Next', 'Last 20', 'Agent', session.role === 'operator' ? 'Owner' : null, 'State', 'Actions']
      .filter(Boolean).map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, tasks.map((t) => h('tr', {},
      h('td', {}, h('a', { href: `#/tasks/${t.id}` }, t.title)),
      h('td', {}, t.schedule.cron ? [h('code', {}, t.schedule.cron), h('div', { class: 'muted' }, t.schedule.description || ''),
        h('div', { class: 'muted' }, t.schedule.timezone)] : h('span', { class: 'muted' }, 'on demand')),
      h('td', {}, t.schedule.enabled && t.status === 'active' ? (t.schedule.next || []).map((n) => h('div', {}, when(n, t.schedule.timezone)))
        : h('span', { class: 'muted' }, t.status === 'paused' ? 'paused' : '-')),
      h('td', {}, strip(t.recent || [])),
      h('td', {}, t.agentType),
      session.role === 'operator' ? h('td', {}, t.owner) : null,
      h('td', {}, t.status),
      h('td', {}, h('div', { class: 'row' },
        t.status === 'paused'
          ? h('button', { type: 'button', onclick: act(`/api/tasks/${t.id}/resume`, () => `Resumed ${t.title}.`) }, 'Resume')
          : h('button', { type: 'button', onclick: act(`/api/tasks/${t.id}/pause`, () => `Paused ${t.title}.`) }, 'Pause'),
        h('button', { type: 'button', onclick: act(`/api/tasks/${t.id}/trigger`, (r) => `Run ${r.run} queued.`) }, 'Run now'))))))); 
}

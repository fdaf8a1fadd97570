// SPDX-License-Identifier: MIT
// Runs: filtered by status, task, agent, trigger and slot time (all in the URL), newest slot
// first, paged by the API's cursor; a selection can be cancelled or retried at once.
import { api, h, when, ms, status, routeQuery, setRouteQuery, live, errorBox, oneAtATime } from '../lib.js';

export async function render(main) {
  const q = routeQuery();
  const field = (id, label, attrs) => [h('label', { for: id }, label), h('input', { id, value: q.get(id) || '', ...attrs })];
  const statusSel = h('select', { id: 'status' }, ['', 'queued', 'running', 'retrying', 'succeeded', 'failed',
    'timed_out', 'cancelled', 'insufficient_credits'].map((s) =>
    h('option', { value: s, selected: (q.get('status') || '') === s }, s || 'any')));
  const triggerSel = h('select', { id: 'trigger' }, ['', 'schedule', 'manual', 'api', 'backfill'].map((s) =>
    h('option', { value: s, selected: (q.get('trigger') || '') === s }, s || 'any')));
  const [taskLabel, task] = field('task', 'Task id', { size: 6, inputmode: 'numeric' });
  const [agentLabel, agent] = field('agent', 'Agent', { size: 12 });
  const [sinceLabel, since] = field('since', 'Slot from (RFC 3339)', { size: 22, placeholder: '2026-11-01T00:00:00Z' });
  const [untilLabel, until] = field('until', 'until', { size: 22 });
  const message = h('div', { role: 'status' });
  const body = h('div', { 'aria-live': 'polite' });
  const cursors = [null];
  let page = 0;
  const selected = new Set();

  const load = oneAtATime(async () => {
    const params = new URLSearchParams({ status: statusSel.value, task: task.value, agent: agent.value,
      trigger: triggerSel.value, since: since.value, until: until.value });
    setRouteQuery('/runs', params);
    for (const [k, v] of [...params]) if (!v) params.delete(k);
    params.set('limit', '50');
    if (cursors[page]) params.set('cursor', cursors[page]);
    const doc = await api('GET', `/api/runs?${params}`);
    cursors[page + 1] = doc.next || null;
    body.replaceChildren(table(doc.runs), pager(doc.next));
  });
  const reload = () => load().catch((e) => message.replaceChildren(errorBox(e)));
  function pager(next) {
    return h('div', { class: 'row' },
      h('button', { type: 'button', disabled: page === 0, onclick: () => { page--; reload(); } }, 'Newer'),
      h('button', { type: 'button', disabled: !next, onclick: () => { page++; reload(); } }, 'Older'));
  }
  function table(runs) {
    if (!runs.length) return h('p', { class: 'muted' }, 'No runs match.');
    return h('table', {},
      h('thead', {}, h('tr', {}, ['', 'Run', 'Task', 'Status', 'Slot', 'Trigger', 'Attempt', 'Duration', 'Tokens', 'Credits']
        .map((c, i) => h('th', { scope: 'col' }, i ? c : h('span', { class: 'skip' }, 'Select'))))),
      h('tbody', {}, runs.map((r) => h('tr', {},
        h('td', {}, h('input', { type: 'checkbox', 'aria-label': `select run ${r.id}`, checked: selected.has(r.id),
          onchange: (ev) => { ev.target.checked ? selected.add(r.id) : selected.delete(r.id); } })),
        h('td', {}, h('a', { href: `#/runs/${r.id}` }, r.id)),
        h('td', {}, h('a', { href: `#/tasks/${r.task}` }, r.title)),
        h('td', {}, status(r.status)),
        h('td', {}, when(r.scheduledFor)),
        h('td', {}, r.trigger),
        h('td', {}, `${r.attempt}/${r.maxAttempts}`),
        h('td', {}, ms(r.durationMs)),
        h('td', {}, (r.promptTokens || 0) + (r.completionTokens || 0)),
        h('td', {}, r.credits ?? 0)))));
  }
  async function bulk(action) {
    const ids = [...selected];
    if (!ids.length) { message.replaceChildren(h('p', {}, 'Select runs first.')); return; }
    const results = await Promise.allSettled(ids.map((id) => api('POST', `/api/runs/${id}/${action}`)));
    const failed = results.filter((r) => r.status === 'rejected');
    message.replaceChildren(h('p', {}, `${action === 'cancel' ? 'Cancel' : 'Retry'}: ${ids.length - failed.length} done` +
      (failed.length ? `, ${failed.length} refused (${failed[0].reason.message})` : '') + '.'));
    selected.clear();
    await reload();
  }
  const form = h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); page = 0; cursors.length = 1; reload(); } },
    h('div', {}, h('label', { for: 'status' }, 'Status'), statusSel), h('div', {}, taskLabel, task),
    h('div', {}, agentLabel, agent), h('div', {}, h('label', { for: 'trigger' }, 'Trigger'), triggerSel),
    h('div', {}, sinceLabel, since), h('div', {}, untilLabel, until), h('button', { type: 'submit' }, 'Filter'));
  main.replaceChildren(h('h1', {}, 'Runs'), form,
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => bulk('cancel') }, 'Cancel selected'),
      h('button', { type: 'button', onclick: () => bulk('retry') }, 'Retry selected')),
    message, body);
  await load();
  return live(() => load());
}

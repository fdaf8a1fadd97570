// SPDX-License-Identifier: MIT
// One task: its definition; the schedule editor (live validation, the next 10 fire times with
// DST notes); the slot ledger of the last day and the next hour (each slot's run, or why it has
// none); its latest runs; pause, resume, run now, delete.
import { api, h, when, status, ms, live, errorBox, oneAtATime } from '../lib.js';
import { scheduleEditor } from './schedule_editor.js';

export async function render(main, [id]) {
  let t = await api('GET', `/api/tasks/${id}`);
  const message = h('div', { role: 'status' });
  const slots = h('div', { 'aria-live': 'polite' });
  const runs = h('div', { id: 'task-runs', 'aria-live': 'polite' });
  const editor = scheduleEditor({ cron: t.schedule.cron || '', timezone: t.schedule.timezone, task: t.id });
  const say = (text) => message.replaceChildren(h('p', {}, text));
  const act = (method, path, body, done) => async () => {
    try { const r = await api(method, path, body); await refresh(); say(done(r)); }
    catch (e) { message.replaceChildren(errorBox(e)); }
  };
  const definition = h('dl', {});
  function showDefinition() {
    definition.replaceChildren(
      h('dt', {}, 'Agent'), h('dd', {}, t.agentType),
      h('dt', {}, 'Goal'), h('dd', {}, t.goal),
      h('dt', {}, 'Owner'), h('dd', {}, t.owner),
      h('dt', {}, 'Priority'), h('dd', {}, t.priority),
      h('dt', {}, 'State'), h('dd', {}, t.status, t.schedule.cron && !t.schedule.enabled ? ' (schedule disabled)' : ''),
      h('dt', {}, 'Schedule'), h('dd', {}, t.schedule.cron ? [h('code', {}, t.schedule.cron), ' — ', t.schedule.description || ''] : 'on demand'),
      h('dt', {}, 'Next slot'), h('dd', {}, when(t.nextRunAt, t.schedule.timezone)),
      h('dt', {}, 'Attempts, timeout'), h('dd', {}, `${t.maxAttempts}, ${ms(t.timeoutMs)}`),
      h('dt', {}, 'Keeps runs'), h('dd', {}, t.retentionDays ? `${t.retentionDays} days` : 'the deployment default'));
  }
  const refresh = oneAtATime(async () => {
    t = await api('GET', `/api/tasks/${id}`);
    showDefinition();
    const [s, r] = await Promise.all([api('GET', `/api/tasks/${id}/slots`), api('GET', `/api/tasks/${id}/runs?limit=20`)]);
    slots.replaceChildren(s.slots.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Slot', 'Run', 'What happened'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, s.slots.slice(-30).reverse().map((x) => h('tr', {},
        h('td', {}, when(x.slot, t.schedule.timezone)),
        h('td', {}, x.run ? h('a', { href: `#/runs/${x.run}` }, x.run) : '-'),
        h('td', {}, x.run ? [status(x.status), x.trigger !== 'schedule' ? ` (${x.trigger})` : ''] : h('span', { class: 'muted' }, x.reason.replaceAll('_', ' '))))))) 
      : h('p', { class: 'muted' }, 'No slots in the last day or the next hour.'));
    runs.replaceChildren(r.runs.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Run', 'Status', 'Slot', 'Trigger', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.runs.map((x) => h('tr', {}, h('td', {}, h('a', { href: `#/runs/${x.id}` }, x.id)),
        h('td', {}, status(x.status)), h('td', {}, when(x.scheduledFor, t.schedule.timezone)), h('td', {}, x.trigger),
        h('td', {}, ms(x.durationMs))))))
      : h('p', { class: 'muted' }, 'No runs yet.'));
  });
  const save = h('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    const v = editor.value();
    const body = v.cron ? { cron: v.cron, timezone: v.timezone, enabled: true } : { enabled: false };
    await act('PATCH', `/api/tasks/${id}`, body, () => 'Schedule saved.')();
  } }, editor.element, h('button', { type: 'submit', class: 'primary' }, 'Save schedule'));
  const backfillForm = backfillPanel(t, id, message, refresh);
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/tasks' }, '← Schedules')),
    h('h1', {}, t.title),
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: act('POST', `/api/tasks/${id}/trigger`, undefined, (r) => `Run ${r.run} queued.`) }, 'Run now'),
      h('button', { type: 'button', onclick: () => act('POST', `/api/tasks/${id}/${t.status === 'paused' ? 'resume' : 'pause'}`, undefined,
        () => (t.status === 'paused' ? 'Resumed.' : 'Paused.'))() }, 'Pause / resume'),
      h('button', { type: 'button', onclick: act('POST', `/api/tasks/${id}/cancel`, undefined, (r) => `${r.cancelled} cancelled, ${r.stopping} stopping.`) }, 'Cancel its runs'),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(`Delete “${t.title}”? Its history stays.`)) return;
        try { await api('DELETE', `/api/tasks/${id}`); location.hash = '#/tasks'; } catch (e) { message.replaceChildren(errorBox(e)); }
      } }, 'Delete')),
    message,
    h('div', { class: 'panel' }, definition),
    h('h2', {}, 'Edit the schedule'), h('div', { class: 'panel' }, save),
    h('h2', {}, 'Slots'), slots,
    ...(t.schedule.cron ? [h('h2', {}, 'Backfill'), backfillForm] : []),
    h('h2', {}, 'Latest runs'), runs);
  await refresh();
  return live(refresh);
}

// Backfill a range: first the slots it would create (those without a run, from the slot ledger),
// then, when confirmed, the runs (POST /api/tasks/{id}/backfill; never a second run of a slot).
function backfillPanel(t, id, message, refresh) {
  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const from = h('input', { id: 'backfill-from', size: 22, value: iso(Date.now() - 6 * 3600000) });
  const to = h('input', { id: 'backfill-to', size: 22, value: iso(Date.now()) });
  const plan = h('div', { 'aria-live': 'polite' });
  async function preview(ev) {
    ev.preventDefault();
    try {
      const q = new URLSearchParams({ from: from.value, to: to.value });
      const s = await api('GET', `/api/tasks/${id}/slots?${q}`);
      const missing = s.slots.filter((x) => !x.run && x.reason !== 'upcoming');
      plan.replaceChildren(h('p', { id: 'backfill-plan' }, `${missing.length} slot${missing.length === 1 ? '' : 's'} without a run would get one` +
        (s.slots.length - missing.length ? `; ${s.slots.length - missing.length} already have a run or are still to come` : '') + '.'),
        missing.length ? h('ul', {}, missing.slice(0, 20).map((x) => h('li', {}, when(x.slot, t.schedule.timezone), h('span', { class: 'muted' }, ` (${x.reason.replaceAll('_', ' ')})`)))) : null,
        missing.length > 20 ? h('p', { class: 'muted' }, `and ${missing.length - 20} more`) : null,
        missing.length ? h('button', { type: 'button', class: 'primary', onclick: async () => {
          try {
            const r = await api('POST', `/api/tasks/${id}/backfill`, { from: from.value, to: to.value });
            plan.replaceChildren();
            message.replaceChildren(h('p', {}, `Backfill: ${r.created} run${r.created === 1 ? '' : 's'} created, ${r.existing} slot${r.existing === 1 ? '' : 's'} already had one.`));
            await refresh();
          } catch (e) { plan.replaceChildren(errorBox(e)); }
        } }, `Create ${missing.length} run${missing.length === 1 ? '' : 's'}`) : null);
    } catch (e) { plan.replaceChildren(errorBox(e)); }
  }
  return h('form', { class: 'panel', onsubmit: preview },
    h('div', { class: 'row' }, h('div', {}, h('label', { for: 'backfill-from' }, 'From (RFC 3339)'), from),
      h('div', {}, h('label', { for: 'backfill-to' }, 'To'), to), h('button', { type: 'submit' }, 'Preview')), plan);
}

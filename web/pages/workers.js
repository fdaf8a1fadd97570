// SPDX-License-Identifier: MIT
// Workers and queue (operators): each worker's running count, concurrency, completed and failed,
// lease renewals, from its last status report; the queue's depths; the dead set with requeue.
import { api, h, when, status, live, errorBox, session, oneAtATime } from '../lib.js';

export async function render(main) {
  if (session.role !== 'operator') {
    main.replaceChildren(h('h1', {}, 'Workers and queue'), h('p', { role: 'alert', class: 'error' }, 'This page needs an operator key.'));
    return null;
  }
  const body = h('div', { 'aria-live': 'polite' }), message = h('div', { role: 'status' });
  const load = oneAtATime(async () => {
    const [o, dead] = await Promise.all([api('GET', '/api/overview'), api('GET', '/api/queue/dead?limit=50')]);
    const hl = o.health || {};
    const workers = (hl.instances || []).filter((i) => i.role === 'worker');
    body.replaceChildren(
      hl.queue ? h('p', {}, `Queue: ${hl.queue.waiting} waiting, ${hl.queue.active} active, ${hl.queue.delayed} delayed, ${hl.queue.dead} dead; ${hl.queue.completed} completed, ${hl.queue.failed} failed in all`) : null,
      h('h2', {}, 'Workers'),
      workers.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Worker', 'Running', 'Concurrency', 'Completed', 'Failed', 'Lease renewals', 'Version', 'Reported']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, workers.map((w) => h('tr', {}, h('td', {}, w.instance), h('td', {}, w.running ?? '-'),
        h('td', {}, w.concurrency ?? '-'), h('td', {}, w.completed ?? '-'), h('td', {}, w.failed ?? '-'),
        h('td', {}, w.leaseRenewals ?? '-'), h('td', {}, w.version || '-'), h('td', {}, `${w.ageS} s ago`)))))
        : h('p', { class: 'muted' }, 'No worker has reported.'),
      h('h2', {}, 'Dead set (runs that used every attempt)'),
      dead.runs.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Run', 'Task', 'Status', 'Died', 'Error', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, dead.runs.map((r) => h('tr', {}, h('td', {}, h('a', { href: `#/runs/${r.id}` }, r.id)),
          h('td', {}, h('a', { href: `#/tasks/${r.task}` }, r.title)), h('td', {}, status(r.status)), h('td', {}, when(r.diedAt)),
          h('td', {}, r.error || ''), h('td', {}, h('button', { type: 'button', onclick: async () => {
            try { const x = await api('POST', `/api/queue/dead/${r.id}/requeue`); await load(); message.replaceChildren(h('p', {}, `Requeued as run ${x.run}.`)); }
            catch (e) { message.replaceChildren(errorBox(e)); }
          } }, 'Requeue'))))))
        : h('p', { class: 'muted' }, 'The dead set is empty.'));
  });
  main.replaceChildren(h('h1', {}, 'Workers and queue'), message, body);
  await load();
  return live(load);
}

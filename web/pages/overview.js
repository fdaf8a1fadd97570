// SPDX-License-Identifier: MIT
// Overview: health (operators: every orchestrator and worker with its last report, and the
// problems `agentcron status` reports), the queue, runs of the last 24 hours by outcome, fire
// lateness, and today's tokens and credits.
import { api, h, ms, live, session } from '../lib.js';

const OUTCOMES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'insufficient_credits', 'running', 'queued', 'retrying'];

export async function render(main) {
  const body = h('div', { 'aria-live': 'polite' });
  async function load() {
    const o = await api('GET', '/api/overview');
    body.replaceChildren(
      o.health ? healthPanel(o.health) : null,
      h('h2', {}, 'Today (UTC)'),
      h('dl', { class: 'panel' }, h('dt', {}, 'Runs ended'), h('dd', {}, o.today.runs),
        h('dt', {}, 'Tokens'), h('dd', {}, o.today.tokens), h('dt', {}, 'Credits'), h('dd', {}, o.today.credits)),
      h('h2', {}, 'Fire lateness, last hour'),
      h('dl', { class: 'panel' },
        h('dt', {}, 'Slot to queue'), h('dd', {}, `p50 ${ms(o.lateness.enqueuedP50Ms)}, p99 ${ms(o.lateness.enqueuedP99Ms)}`),
        h('dt', {}, 'Slot to running'), h('dd', {}, `p50 ${ms(o.lateness.startedP50Ms)}, p99 ${ms(o.lateness.startedP99Ms)}`),
        h('dt', {}, 'Scheduled runs'), h('dd', {}, o.lateness.scheduledRuns)),
      h('h2', {}, 'Runs of the last 24 hours, by hour of their slot'), chart(o.runsByHour));
  }
  main.replaceChildren(h('h1', {}, 'Overview'), body);
  await load();
  return live(load);
}

function healthPanel(hl) {
  const problems = hl.problems || [];
  return h('section', { 'aria-label': 'health' },
    h('p', { class: problems.length ? 'error' : 'status s-succeeded', role: problems.length ? 'alert' : null },
      problems.length ? `Unhealthy: ${problems.length} problem${problems.length > 1 ? 's' : ''}` : 'Healthy'),
    problems.length ? h('ul', {}, problems.map((p) => h('li', {}, p))) : null,
    hl.queue ? h('p', {}, `Queue: ${hl.queue.waiting} waiting, ${hl.queue.active} active, ${hl.queue.delayed} delayed, ${hl.queue.dead} dead`) : null,
    h('table', {}, h('thead', {}, h('tr', {}, ['Role', 'Instance', 'Version', 'Running', 'Reported'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, (hl.instances || []).map((i) => h('tr', {}, h('td', {}, i.role), h('td', {}, i.instance),
        h('td', {}, i.version || '-'), h('td', {}, i.running ?? '-'), h('td', {}, `${i.ageS} s ago`))))));
}

// A stacked bar per hour, drawn with plain elements (no chart library). Heights are set through
// the CSSOM: the Content-Security-Policy refuses style attributes.
function chart(counted) {
  if (!counted.length) return h('p', { class: 'muted' }, 'No runs in the last 24 hours.');
  // every hour of the last 24 gets a bar, empty or not, so the axis is time
  const byHour = new Map(counted.map((x) => [x.hour, x]));
  const hours = [];
  const now = Date.now() - (Date.now() % 3600000);
  for (let t = now - 23 * 3600000; t <= now; t += 3600000) {
    const hour = new Date(t).toISOString().replace('.000Z', 'Z');
    hours.push(byHour.get(hour) || { hour, runs: {} });
  }
  const sum = (x) => Object.values(x.runs).reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...hours.map(sum));
  return h('div', { class: 'chart', role: 'list', 'aria-label': 'runs by hour and outcome' },
    hours.map((x) => {
      const total = sum(x);
      const label = `${x.hour.slice(11, 16)} UTC: ` + (OUTCOMES.filter((s) => x.runs[s]).map((s) => `${x.runs[s]} ${s.replace('_', ' ')}`).join(', ') || 'no runs');
      const stack = h('span', { class: 'stack' }, OUTCOMES.filter((s) => x.runs[s]).map((s) => {
        const part = h('i', { class: `s-${s}` });
        part.style.height = `${(100 * x.runs[s]) / (total || 1)}%`;
        return part;
      }));
      stack.style.height = total ? `${Math.max(2, (100 * total) / max)}%` : '0';
      return h('div', { class: 'bar', role: 'listitem', title: label, 'aria-label': label }, stack,
        h('small', { class: 'muted', 'aria-hidden': 'true' }, x.hour.slice(11, 13)));
    }));
}

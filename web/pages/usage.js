// SPDX-License-Identifier: MIT
// Usage and credits: per user, credits used, reserved and available this period; a daily chart
// of tokens and credits; usage by task and agent; the ledger. An operator picks any user and
// can grant credits.
import { api, h, when, ms, errorBox, session } from '../lib.js';

export async function render(main, [picked]) {
  const users = (await api('GET', '/api/users')).users;
  const id = picked || String(session.user.id);
  const u = await api('GET', `/api/users/${id}`);
  const message = h('div', { role: 'status' });
  const chooser = session.role === 'operator' && users.length > 1
    ? h('div', { class: 'row' }, h('label', { for: 'user' }, 'User'),
        h('select', { id: 'user', onchange: (ev) => { location.hash = `#/usage/${ev.target.value}`; } },
          users.map((x) => h('option', { value: x.id, selected: String(x.id) === id }, x.email))))
    : null;
  const available = u.monthlyCredits + u.grantedCredits - u.creditsUsed - u.creditsReserved;
  const grant = session.role === 'operator' ? grantForm(u, message) : null;
  const use = u.usage || { byDay: [], byTask: [], byAgent: [], total: {} };
  main.replaceChildren(h('h1', {}, `Usage and credits: ${u.email}`), chooser, message,
    h('dl', { class: 'panel' },
      h('dt', {}, 'Period'), h('dd', {}, 'since ', when(u.periodStart)),
      h('dt', {}, 'Credits'), h('dd', {}, `${u.creditsUsed} used, ${u.creditsReserved} reserved of ${u.monthlyCredits} monthly + ${u.grantedCredits} granted (${available} available)`),
      h('dt', {}, 'This period'), h('dd', {}, `${use.total.runs || 0} runs, ${(use.total.promptTokens || 0) + (use.total.completionTokens || 0)} tokens, ${use.total.credits || 0} credits`)),
    grant,
    h('h2', {}, 'By day (UTC)'), dailyChart(use.byDay || []),
    h('h2', {}, 'By task'), breakdown(use.byTask || [], (x) => h('a', { href: `#/tasks/${x.task}` }, x.title)),
    h('h2', {}, 'By agent'), breakdown(use.byAgent || [], (x) => x.agent),
    h('h2', {}, 'Ledger (newest first)'),
    u.ledger.length ? h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Reason', 'Credits', 'Run', 'Note'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, u.ledger.map((l) => h('tr', {}, h('td', {}, when(l.at)), h('td', {}, l.reason), h('td', {}, l.delta),
        h('td', {}, l.run ? h('a', { href: `#/runs/${l.run}` }, l.run) : '-'), h('td', {}, l.note)))))
      : h('p', { class: 'muted' }, 'No ledger rows.'));
}

function breakdown(rows, name) {
  if (!rows.length) return h('p', { class: 'muted' }, 'Nothing this period.');
  return h('table', {}, h('thead', {}, h('tr', {}, ['', 'Runs', 'Succeeded', 'Failed', 'Tokens', 'Credits', 'p95'].map((c, i) => h('th', { scope: 'col' }, i ? c : h('span', { class: 'skip' }, 'Name'))))),
    h('tbody', {}, rows.map((x) => h('tr', {}, h('td', {}, name(x)), h('td', {}, x.runs), h('td', {}, x.succeeded),
      h('td', {}, x.failed + (x.timedOut || 0)), h('td', {}, x.promptTokens + x.completionTokens), h('td', {}, x.credits),
      h('td', {}, ms(x.p95DurationMs))))));
}

// Tokens and credits per day as two rows of bars (heights through the CSSOM, as CSP requires).
function dailyChart(days) {
  if (!days.length) return h('p', { class: 'muted' }, 'No runs ended this period.');
  const series = [['tokens', (d) => d.promptTokens + d.completionTokens], ['credits', (d) => d.credits]];
  return h('div', {}, series.map(([label, f]) => {
    const max = Math.max(1, ...days.map(f));
    return h('div', {}, h('p', { class: 'muted' }, label),
      h('div', { class: 'chart', role: 'list', 'aria-label': `${label} by day` }, days.map((d) => {
        const text = `${d.day}: ${f(d)} ${label}`;
        const stack = h('span', { class: 'stack' }, h('i', { class: 's-succeeded' }));
        stack.firstChild.style.height = '100%';
        stack.style.height = `${Math.max(2, (100 * f(d)) / max)}%`;
        return h('div', { class: 'bar', role: 'listitem', title: text, 'aria-label': text }, stack,
          h('small', { class: 'muted', 'aria-hidden': 'true' }, d.day.slice(8, 10)));
      })));
  }));
}

function grantForm(u, message) {
  const amount = h('input', { id: 'grant', type: 'number', min: 1, step: 1, size: 10, required: true });
  const note = h('input', { id: 'grant-note', size: 30, maxlength: 500 });
  return h('form', { class: 'panel row', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', `/api/users/${u.id}/credits`, { grant: Number(amount.value), note: note.value || undefined });
      message.replaceChildren(h('p', {}, `Granted ${amount.value} credits to ${u.email} for this period.`));
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (e) { message.replaceChildren(errorBox(e)); }
  } }, h('div', {}, h('label', { for: 'grant' }, 'Grant credits (this period)'), amount),
  h('div', {}, h('label', { for: 'grant-note' }, 'Note'), note), h('button', { type: 'submit', class: 'primary' }, 'Grant'));
}

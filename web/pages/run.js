// SPDX-License-Identifier: MIT
// One run: its state, tokens and credits; its durable steps (what each cost, which attempt did
// it, copied ones marked); every attempt as a timeline (worker, duration, outcome, HTTP status or
// exit code, retry reason and when); each attempt's output and stderr, a running exec run's as
// it comes; cancel and retry. Follows the run every 2 s until it ends.
import { api, h, when, ms, status, live, errorBox, oneAtATime } from '../lib.js';

const ENDED = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'insufficient_credits']);

// The run's steps as checkpointed (docs/steps.md), or nothing for a run without steps.
function stepsTable(r) {
  if (!r.steps || !r.steps.length) return [];
  const label = (st) => st.copiedFrom ? `copied from run ${st.copiedFrom}` : st.status === 'reserved' ? 'begun, not completed' : st.status;
  const output = (st) => { const t = JSON.stringify(st.output); return t && t.length > 120 ? `${t.slice(0, 120)}…` : t; };
  return [h('h2', {}, 'Steps'),
    h('p', { class: 'muted' }, `${r.steps.length} step${r.steps.length === 1 ? '' : 's'}; ${r.stepCredits} of the ${r.credits} credits were charged as steps completed.`),
    h('table', { id: 'steps' },
      h('thead', {}, h('tr', {}, ...['#', 'Step', 'Status', 'Attempt', 'Tokens', 'Credits', 'Finished', 'Output'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...r.steps.map((st) => h('tr', { class: `step-${st.status}` },
        h('td', {}, String(st.seq)), h('td', {}, h('code', {}, st.id)), h('td', {}, label(st)), h('td', {}, String(st.attempt)),
        h('td', {}, String(st.promptTokens + st.completionTokens)),
        h('td', {}, st.status === 'reserved' ? `(${st.reserved} reserved)` : String(st.credits)),
        h('td', {}, st.finishedAt ? when(st.finishedAt) : '–'), h('td', {}, h('code', {}, output(st) || ''))))))];
}

export async function render(main, [id]) {
  const message = h('div', { role: 'status' });
  const head = h('div', {}), timeline = h('ol', { class: 'timeline' }), logs = h('div', {}), steps = h('div', {});
  let chosen = null, stop = null;
  const streamed = { after: '0', out: '', err: '', attempt: null }; // what the run's live stream gave so far
  const refresh = oneAtATime(async () => {
    const r = await api('GET', `/api/runs/${id}`);
    head.replaceChildren(h('h1', {}, `Run ${r.id} `, status(r.status)),
      h('dl', { class: 'panel' },
        h('dt', {}, 'Task'), h('dd', {}, h('a', { href: `#/tasks/${r.task}` }, r.title)),
        h('dt', {}, 'Agent'), h('dd', {}, r.agent),
        h('dt', {}, 'Slot'), h('dd', {}, when(r.scheduledFor), ` (${r.trigger})`),
        h('dt', {}, 'Started, finished'), h('dd', {}, when(r.startedAt), ' → ', when(r.finishedAt)),
        h('dt', {}, 'Duration'), h('dd', {}, ms(r.durationMs)),
        h('dt', {}, 'Attempt'), h('dd', {}, `${r.attempt} of ${r.maxAttempts}`),
        h('dt', {}, 'Tokens'), h('dd', {}, `${r.promptTokens} prompt, ${r.completionTokens} completion`),
        h('dt', {}, 'Credits'), h('dd', {}, `${r.credits} charged${r.creditsReserved ? `, ${r.creditsReserved} reserved` : ''}`),
        r.error ? [h('dt', {}, 'Error'), h('dd', { class: 'error' }, r.error)] : null));
    steps.replaceChildren(...stepsTable(r));
    timeline.replaceChildren(...(r.attempts || []).map((a) => h('li', { class: `s-${a.outcome}` },
      h('strong', {}, `Attempt ${a.attempt}: `), status(a.outcome),
      h('span', {}, ` · ${a.worker || 'no worker'} · ${ms(a.durationMs)}`),
      a.httpStatus !== null && a.httpStatus !== undefined ? ` · HTTP ${a.httpStatus}` : '',
      a.exitCode !== null && a.exitCode !== undefined ? ` · exit ${a.exitCode}` : '',
      a.signal ? ` · signal ${a.signal}` : '',
      a.error ? h('div', { class: 'error' }, a.error) : null,
      a.retryReason ? h('div', { class: 'muted' }, `retried (${a.retryReason.replaceAll('_', ' ')})`, a.retryAt ? [' at ', when(a.retryAt)] : '') : null,
      h('button', { type: 'button', onclick: () => { chosen = a.attempt; showLogs(); } }, 'Output'))));
    if (!r.attempts || !r.attempts.length) timeline.replaceChildren(h('li', { class: 'muted' }, r.status === 'running' ? 'The first attempt is running.' : 'No attempt has started yet.'));
    if (!ENDED.has(r.status) && !chosen) await follow();
    else await showLogs();
    if (ENDED.has(r.status) && stop) { stop(); stop = null; }
    return r;
  });
  // A running exec run's output as it comes (GET /api/runs/{id}/live), appended on every tick.
  async function follow() {
    const l = await api('GET', `/api/runs/${id}/live?after=${encodeURIComponent(streamed.after)}`);
    streamed.after = l.last;
    for (const e of l.entries) {
      if (streamed.attempt !== null && e.attempt !== streamed.attempt) { streamed.out = ''; streamed.err = ''; }
      streamed.attempt = e.attempt;
      streamed[e.stream === 'err' ? 'err' : 'out'] += e.data;
    }
    if (streamed.attempt === null) return showLogs();
    logs.replaceChildren(h('h2', {}, `Output of attempt ${streamed.attempt} (live)`),
      h('pre', { id: 'output', tabindex: '0', 'aria-label': 'output' }, streamed.out || '(none yet)'),
      h('h2', {}, 'Stderr'), h('pre', { id: 'stderr', tabindex: '0', 'aria-label': 'stderr' }, streamed.err || '(none)'));
  }
  async function showLogs() {
    const l = await api('GET', `/api/runs/${id}/logs${chosen ? `?attempt=${chosen}` : ''}`);
    logs.replaceChildren(h('h2', {}, `Output of attempt ${l.attempt ?? '-'}`),
      h('pre', { id: 'output', tabindex: '0', 'aria-label': 'output' }, l.output || '(none)'),
      h('h2', {}, 'Stderr'), h('pre', { id: 'stderr', tabindex: '0', 'aria-label': 'stderr' }, l.stderr || '(none)'));
  }
  const act = (action) => async () => {
    try {
      const r = await api('POST', `/api/runs/${id}/${action}`);
      if (action === 'retry') location.hash = `#/runs/${r.run}`;
      else { await refresh(); message.replaceChildren(h('p', {}, `Cancel: ${r.result}.`)); }
    } catch (e) { message.replaceChildren(errorBox(e)); }
  };
  main.replaceChildren(h('p', {}, h('a', { href: '#/runs' }, '← Runs')), head,
    h('div', { class: 'row' }, h('button', { type: 'button', id: 'cancel-run', onclick: act('cancel') }, 'Cancel'),
      h('button', { type: 'button', id: 'retry-run', onclick: act('retry') }, 'Retry')),
    message, steps, h('h2', {}, 'Attempts'), timeline, logs);
  const r = await refresh();
  stop = ENDED.has(r.status) ? null : live(refresh);
  return () => stop && stop();
}

// SPDX-License-Identifier: MIT
// A new task: what to do, which agent, and an optional schedule checked as one types
// (POST /api/agent/execute).
import { api, h, errorBox } from '../lib.js';
import { scheduleEditor } from './schedule_editor.js';

export async function render(main) {
  const title = h('input', { id: 'title', size: 40, required: true });
  const goal = h('textarea', { id: 'goal', rows: 3, cols: 60, required: true });
  const agent = h('input', { id: 'agentType', size: 20, required: true });
  const priority = h('select', { id: 'priority' }, ['normal', 'urgent', 'high', 'low'].map((p) => h('option', { value: p }, p)));
  const editor = scheduleEditor({ cron: '', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    const s = editor.value();
    const body = { title: title.value, goal: goal.value, agentType: agent.value, priority: priority.value };
    if (s.cron) body.schedule = { cron: s.cron, timezone: s.timezone, enabled: true };
    try {
      const r = await api('POST', '/api/agent/execute', body);
      location.hash = r.run ? `#/runs/${r.run}` : `#/tasks/${r.task}`;
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  h('label', { for: 'title' }, 'Title'), title,
  h('label', { for: 'goal' }, 'Goal'), goal,
  h('div', { class: 'row' }, h('div', {}, h('label', { for: 'agentType' }, 'Agent'), agent),
    h('div', {}, h('label', { for: 'priority' }, 'Priority'), priority)),
  h('h2', {}, 'Schedule'), editor.element,
  h('button', { class: 'primary', type: 'submit' }, 'Create'), out);
  main.replaceChildren(h('h1', {}, 'New task'), form);
}

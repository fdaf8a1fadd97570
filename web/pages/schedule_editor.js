// SPDX-License-Identifier: MIT
// A cron expression and zone field pair that validates as one types: the API's preview shows the
// expression in words and the next 10 fire times with DST notes, or the error at its column.
import { api, h, when, ApiError } from '../lib.js';

export function scheduleEditor({ cron = '', timezone = 'UTC', task = null } = {}) {
  const cronInput = h('input', { id: 'cron', value: cron, size: 30, spellcheck: 'false', autocomplete: 'off',
                                 'aria-describedby': 'cron-feedback' });
  const zoneInput = h('input', { id: 'timezone', value: timezone, size: 24, autocomplete: 'off',
                                 'aria-describedby': 'cron-feedback' });
  const feedback = h('div', { id: 'cron-feedback', 'aria-live': 'polite' });
  let timer = null, seq = 0, valid = false;

  async function check() {
    const mine = ++seq;
    if (!cronInput.value.trim()) { feedback.replaceChildren(h('p', { class: 'muted' }, 'No schedule: runs only when started.')); valid = true; return; }
    const q = new URLSearchParams({ cron: cronInput.value, timezone: zoneInput.value || 'UTC', count: '10' });
    if (task) q.set('task', task);
    try {
      const p = await api('GET', `/api/schedule/preview?${q}`);
      if (mine !== seq) return;
      valid = true;
      cronInput.removeAttribute('aria-invalid'); zoneInput.removeAttribute('aria-invalid');
      feedback.replaceChildren(h('p', { class: 'description' }, p.description, ` (${p.timezone})`),
        h('ol', { class: 'preview' }, p.next.map((n) => h('li', {}, when(n.at, p.timezone),
          n.note ? h('span', { class: 'note' }, ` — ${n.note}`) : null))));
    } catch (e) {
      if (mine !== seq) return;
      valid = false;
      const bad = e instanceof ApiError && e.field === 'timezone' ? zoneInput : cronInput;
      bad.setAttribute('aria-invalid', 'true');
      const col = e instanceof ApiError && e.body.column ? e.body.column : 0;
      feedback.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message),
        col ? h('pre', { class: 'caret', 'aria-hidden': 'true' }, `${cronInput.value}\n${' '.repeat(col - 1)}^`) : null);
    }
  }
  const soon = () => { clearTimeout(timer); timer = setTimeout(check, 250); };
  cronInput.addEventListener('input', soon);
  zoneInput.addEventListener('input', soon);
  check();
  return {
    element: h('div', {}, h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'cron' }, 'Cron expression'), cronInput),
      h('div', {}, h('label', { for: 'timezone' }, 'Timezone (IANA)'), zoneInput)), feedback),
    value: () => ({ cron: cronInput.value.trim(), timezone: zoneInput.value.trim() || 'UTC' }),
    valid: () => valid,
    recheck: check,
  };
}

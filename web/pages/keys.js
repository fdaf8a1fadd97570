// SPDX-License-Identifier: MIT
// API keys: your keys (an operator's: everyone's), a new one shown once, revoke. Revoking a key
// ends the sessions signed in with it, this one too if it is this session's key.
import { api, h, when, errorBox, session } from '../lib.js';

export async function render(main) {
  const message = h('div', { role: 'status', 'aria-live': 'polite' });
  const list = h('div', {});
  async function load() {
    const { keys } = await api('GET', '/api/keys');
    list.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, ['Id', 'Prefix', 'Name', 'Owner', 'Role', 'Created', 'Revoked', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k.id), h('td', {}, h('code', {}, `${k.prefix}…`)), h('td', {}, k.name || '-'),
        h('td', {}, k.user), h('td', {}, k.role), h('td', {}, when(k.createdAt)), h('td', {}, when(k.revokedAt)),
        h('td', {}, k.revokedAt ? '' : h('button', { type: 'button', class: 'danger', 'aria-label': `revoke key ${k.id}`, onclick: async () => {
          if (!confirm(`Revoke key ${k.prefix}…? Whatever uses it stops working at once.`)) return;
          try { await api('DELETE', `/api/keys/${k.id}`); await load(); message.replaceChildren(h('p', {}, `Key ${k.id} revoked.`)); }
          catch (e) { message.replaceChildren(errorBox(e)); }
        } }, 'Revoke')))))));
  }
  const name = h('input', { id: 'key-name', size: 30, maxlength: 200 });
  const form = h('form', { class: 'panel row', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const k = await api('POST', '/api/keys', name.value ? { name: name.value } : undefined);
      message.replaceChildren(h('div', { class: 'panel' }, h('p', {}, `New key ${k.id} for ${session.user.email}. It is shown once: copy it now.`),
        h('pre', { id: 'new-key', tabindex: '0', 'aria-label': 'the new key' }, k.key)));
      name.value = '';
      await load();
    } catch (e) { message.replaceChildren(errorBox(e)); }
  } }, h('div', {}, h('label', { for: 'key-name' }, 'Name of a new key'), name), h('button', { type: 'submit', class: 'primary' }, 'Create key'));
  main.replaceChildren(h('h1', {}, 'API keys'), form, message, list);
  await load();
}

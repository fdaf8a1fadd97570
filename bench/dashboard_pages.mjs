// SPDX-License-Identifier: MIT
// How long each dashboard page takes to be interactive in headless Chromium: from a fresh load
// of its address to its data on screen, ROUNDS times each. Prints one JSON line per page.
// env: BASE, KEY (an operator key), TASK, RUN, ROUNDS (default 10), CHROMIUM (default /usr/bin/chromium)
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const env = process.env;
const rounds = Number(env.ROUNDS || 10);
const pages = [
  ['overview', '#/overview', '.chart, section[aria-label=health]'],
  ['schedules', '#/tasks', 'tbody tr'],
  ['task', `#/tasks/${env.TASK}`, '#task-runs tbody tr'],
  ['runs', '#/runs', 'tbody tr'],
  ['runs, failed', '#/runs?status=failed', 'tbody tr'],
  ['run', `#/runs/${env.RUN}`, '.timeline li'],
  ['workers', '#/workers', 'h2'],
  ['usage', '#/usage', 'table tbody tr'],
  ['keys', '#/keys', 'tbody tr'],
];
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext();
const page = await context.newPage();
await page.goto(env.BASE + '/');
await page.getByLabel('API key').fill(env.KEY);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('heading', { name: 'Overview' }).waitFor();
for (const [name, hash, ready] of pages) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    await page.goto('about:blank');
    const t0 = Date.now();
    await page.goto(`${env.BASE}/${hash}`);
    await page.locator(ready).first().waitFor({ timeout: 10000 });
    times.push(Date.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ page: name, p50_ms: times[Math.floor(rounds / 2)], max_ms: times[rounds - 1] }));
}
await browser.close();

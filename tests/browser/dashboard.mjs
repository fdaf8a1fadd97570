// SPDX-License-Identifier: MIT
// The dashboard in a real browser (Debian's chromium through playwright-core) against a real
// orchestrator, worker, Postgres and Redis that test_dashboard.sh started. Prints one line per
// check; exits 1 if any failed. Screenshots of every page go to SHOTS.
// env: BASE (http://127.0.0.1:PORT), ALICE_KEY, BOB_KEY, OP_KEY, BOB_TASK, SLEEPER_RUN, STEPPER_RUN, SHOTS
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const env = process.env;
const base = env.BASE;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
mkdirSync(env.SHOTS, { recursive: true });
let failed = 0, passed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else { failed++; console.log(`FAIL: ${name} ${detail}`); }
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const shot = (page, name) => page.screenshot({ path: `${env.SHOTS}/${name}.png`, fullPage: true });

// axe-core: no serious or critical violations on the page as it stands
async function accessible(page, name) {
  await page.evaluate(axeSource); // through the DevTools protocol: the page's CSP stays on
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(`${name}: no serious or critical accessibility violations`, bad.length === 0,
        JSON.stringify(bad.map((v) => [v.id, v.nodes.slice(0, 2).map((n) => n.target)])));
}

async function signIn(page, key) {
  await page.goto(base + '/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor({ timeout: 5000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // --- signing in: a wrong key is refused inline, a right one opens the schedules
  await page.goto(base + '/');
  await page.getByLabel('API key').waitFor();
  await accessible(page, 'sign-in');
  await shot(page, '01-sign-in');
  await page.getByLabel('API key').fill('ak_notakeynotakey');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  check('a wrong key is refused inline', /wrong or revoked/.test(await page.getByRole('alert').textContent()));
  await signIn(page, env.ALICE_KEY);
  check('signed in as alice', (await page.locator('#who').textContent()).includes('alice@example.com'));
  check('a user sees no health panel and no Workers link', (await page.getByLabel('health').count()) === 0 &&
        !(await page.locator('#nav-workers').isVisible()));
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === 'agentcron_session');
  check('the session cookie is HttpOnly and SameSite=Strict', c && c.httpOnly && c.sameSite === 'Strict', JSON.stringify(c));
  check('the page cannot read the cookie', (await page.evaluate(() => document.cookie)).indexOf('agentcron_session') < 0);

  // --- a new task: an invalid expression shows its error and column inline, a valid one its next times
  await page.getByRole('link', { name: 'New task' }).click();
  await page.getByLabel('Title').fill('browser check');
  await page.getByLabel('Goal').fill('say hello');
  await page.getByLabel('Agent').fill('one');
  await page.getByLabel('Timezone (IANA)').fill('America/New_York');
  await page.getByLabel('Cron expression').fill('0 25 * * *');
  const alert = page.locator('#cron-feedback [role=alert]');
  await alert.waitFor({ timeout: 3000 });
  const alertText = await alert.textContent();
  check('an invalid expression shows its error and column inline', /hour/.test(alertText) && /column 3/.test(alertText), alertText);
  check('the field is marked invalid', (await page.getByLabel('Cron expression').getAttribute('aria-invalid')) === 'true');
  await shot(page, '02-new-task-invalid');
  await page.getByLabel('Cron expression').fill('*/5 * * * *');
  await page.locator('#cron-feedback ol.preview li').first().waitFor({ timeout: 3000 });
  check('a valid one shows the next 10 fire times', (await page.locator('#cron-feedback ol.preview li').count()) === 10);
  check('and says it in words', /5 minutes/.test(await page.locator('#cron-feedback .description').textContent()),
        await page.locator('#cron-feedback .description').textContent());
  await accessible(page, 'new task');
  await shot(page, '03-new-task');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'browser check' }).waitFor({ timeout: 5000 });
  const taskUrl = page.url();
  check("the task's times are in its zone", (await page.getByLabel('Timezone (IANA)').inputValue()) === 'America/New_York' &&
        /EST/.test(await page.locator('#cron-feedback ol.preview li').first().textContent()),
        await page.locator('#cron-feedback ol.preview li').first().textContent());

  // --- run it now and watch it succeed without reloading
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.getByText(/Run \d+ queued/).waitFor();
  const runId = (await page.getByText(/Run \d+ queued/).textContent()).match(/Run (\d+)/)[1];
  await accessible(page, 'task');
  await shot(page, '04-task');
  // backfill: the slots it would create first, then the runs
  await page.getByLabel('From (RFC 3339)').fill(new Date(Date.now() - 20 * 60000).toISOString());
  await page.getByLabel('To', { exact: true }).fill(new Date(Date.now() - 60000).toISOString());
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.locator('#backfill-plan').waitFor();
  const planned = Number((await page.locator('#backfill-plan').textContent()).match(/^(\d+)/)[1]);
  check('the backfill preview lists the slots without a run', planned >= 3 && planned <= 4, String(planned));
  await page.getByRole('button', { name: /^Create \d+ runs?$/ }).click();
  await page.getByText(/Backfill: \d+ runs? created/).waitFor();
  check('backfill creates exactly those', (await page.getByText(`Backfill: ${planned} run`).count()) === 1);
  await page.goto(`${base}/#/runs/${runId}`);
  const navigations = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
  await page.locator('h1 .s-succeeded').waitFor({ timeout: 15000 });
  check('the run reached succeeded without a reload', navigations.length === 0, navigations.join(' '));
  check('its attempt is in the timeline', (await page.locator('.timeline li').count()) === 1);
  await accessible(page, 'run');
  await shot(page, '05-run');

  // --- a run with durable steps: each step, what it cost, the share of the run's credits
  await page.goto(`${base}/#/runs/${env.STEPPER_RUN}`);
  await page.locator('h1 .s-succeeded').waitFor({ timeout: 15000 });
  await page.locator('#steps tbody tr').nth(1).waitFor();
  const rows = await page.locator('#steps tbody tr').allTextContents();
  check('the run page lists its two steps in order', rows.length === 2 && rows[0].includes('fetch') && rows[1].includes('summarise'), rows.join(' | '));
  check('a step shows its tokens and credits', /summarise.*completed.*1800.*2/.test(rows[1]), rows[1]);
  check('the steps\' share of the credits is said', (await page.getByText('2 of the 3 credits were charged as steps completed').count()) === 1);
  await accessible(page, 'run with steps');
  await shot(page, '05b-run-steps');

  // --- cancel a long exec run from its page
  await page.goto(`${base}/#/runs/${env.SLEEPER_RUN}`);
  await page.locator('h1 .s-running').waitFor({ timeout: 15000 });
  await page.getByText(/still going/).waitFor({ timeout: 10000 });
  check('a running exec run\'s output shows as it comes', /started\s+still going/.test(await page.locator('#output').textContent()),
        await page.locator('#output').textContent());
  await shot(page, '06a-run-live');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('h1 .s-cancelled').waitFor({ timeout: 10000 });
  const stored = await page.evaluate(async (id) => (await (await fetch(`/api/runs/${id}`)).json()).status, env.SLEEPER_RUN);
  check('a running exec run is cancelled from its page, and recorded so', stored === 'cancelled', stored);
  await shot(page, '06-run-cancelled');

  // --- lists
  await page.goto(`${base}/#/tasks`);
  await page.getByRole('link', { name: 'browser check' }).waitFor();
  check("a schedule's next times are in its zone", /GMT/.test(await page.getByRole('row', { name: /alice nightly/ }).textContent()) &&
        (await page.getByRole('row', { name: /alice nightly/ }).textContent()).includes('Europe/London'));
  check('the schedule list shows the expression in words', (await page.getByText('Every 5 minutes', { exact: false }).count()) > 0);
  await accessible(page, 'schedules');
  await shot(page, '07-schedules');
  await page.goto(`${base}/#/runs?status=cancelled`);
  await page.getByRole('link', { name: String(env.SLEEPER_RUN), exact: true }).waitFor();
  check('the runs filter is in the URL and applied', (await page.locator('#status').inputValue()) === 'cancelled');
  await accessible(page, 'runs');
  await shot(page, '08-runs');

  // --- another user's task is not reachable by URL
  await page.goto(`${base}/#/tasks/${env.BOB_TASK}`);
  await page.getByRole('alert').waitFor();
  check("bob's task is not found for alice", /no task/.test(await page.getByRole('alert').textContent()));

  // --- a change without the CSRF token is refused
  const taskId = taskUrl.match(/tasks\/(\d+)/)[1];
  const forged = await page.evaluate(async (id) => (await fetch(`/api/tasks/${id}/pause`, { method: 'POST' })).status, taskId);
  check('a change without the CSRF token is refused', forged === 403, String(forged));

  // --- the keyboard reaches the navigation
  await page.goto(`${base}/#/tasks`);
  await page.getByRole('link', { name: 'browser check' }).waitFor();
  await page.reload();
  await page.getByRole('link', { name: 'browser check' }).waitFor();
  const focused = [];
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press('Tab');
    focused.push(await page.evaluate(() => document.activeElement.textContent));
  }
  check('the keyboard reaches the skip link, then the navigation', focused[0] === 'Skip to content' && focused[1] === 'Overview',
        JSON.stringify(focused));

  // --- API keys: a new one is shown once; revoking it ends what uses it
  await page.goto(`${base}/#/keys`);
  await page.getByLabel('Name of a new key').fill('laptop');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#new-key').waitFor();
  const newKey = (await page.locator('#new-key').textContent()).trim();
  check('a new key is shown once, in full', /^ak_[a-z2-7]{38}$/.test(newKey), newKey);
  await accessible(page, 'keys');
  await shot(page, '11-keys');
  const keyRow = page.getByRole('row', { name: /laptop/ });
  check('the list shows its prefix only', !(await keyRow.textContent()).includes(newKey.slice(11)));
  const works = async () => (await fetch(`${base}/api/tasks`, { headers: { Authorization: `Bearer ${newKey}` } })).status;
  check('the new key works', (await works()) === 200);
  page.once('dialog', (d) => d.accept());
  await keyRow.getByRole('button', { name: /revoke/ }).click();
  await page.getByText(/revoked\./).waitFor();
  check('a revoked key stops working', (await works()) === 401);

  // --- usage: alice sees her own credits and ledger, and cannot grant
  await page.goto(`${base}/#/usage`);
  await page.getByRole('heading', { name: /Usage and credits: alice@example.com/ }).waitFor();
  check('a user sees no grant form', (await page.getByLabel('Grant credits (this period)').count()) === 0);
  await accessible(page, 'usage');
  await shot(page, '12-usage');

  // --- overview for alice: her runs by hour
  await page.goto(`${base}/#/overview`);
  await page.getByRole('list', { name: 'runs by hour and outcome' }).waitFor();
  await accessible(page, 'overview (user)');

  // --- sign out ends the session
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/tasks')).status);
  check('sign out ends the session', after === 401, String(after));
  check('no script errors', errors.length === 0, errors.join(' | '));

  // --- the operator sees every user's tasks, with their owners
  await signIn(page, env.OP_KEY);
  await page.getByRole('link', { name: 'Schedules' }).click();
  await page.getByRole('link', { name: 'bob hourly' }).waitFor({ timeout: 5000 });
  check('the operator sees bob\'s task and the owner column',
        (await page.getByRole('columnheader', { name: 'Owner' }).count()) === 1);
  await shot(page, '09-schedules-operator');

  // the overview shows the system's health to an operator
  await page.goto(`${base}/#/overview`);
  await page.getByLabel('health').waitFor();
  check('the operator sees every orchestrator and worker', (await page.getByRole('cell', { name: 'browser' }).count()) >= 2);
  await accessible(page, 'overview');
  await shot(page, '13-overview');

  // workers and the dead set, with requeue
  await page.goto(`${base}/#/workers`);
  await page.getByRole('heading', { name: 'Workers and queue' }).waitFor();
  const deadRow = page.getByRole('row', { name: /alice broken/ });
  await deadRow.waitFor({ timeout: 15000 });
  check('the worker shows its lease renewals', /\d/.test(await page.getByRole('row', { name: /^browser/ }).first().textContent()));
  await accessible(page, 'workers');
  await shot(page, '14-workers');
  const deadId = (await deadRow.getByRole('link').first().textContent()).trim();
  await deadRow.getByRole('button', { name: 'Requeue' }).click();
  await page.getByText(/Requeued as run \d+/).waitFor();
  const requeued = (await page.getByText(/Requeued as run \d+/).textContent()).match(/run (\d+)/)[1];
  check('requeue makes a new run and takes the old one off the dead set',
        requeued !== deadId && (await page.getByRole('link', { name: deadId, exact: true }).count()) === 0, `${deadId} -> ${requeued}`);

  // usage: the operator grants alice credits and the ledger says so
  await page.goto(`${base}/#/usage`);
  await page.getByLabel('User').selectOption({ label: 'alice@example.com' });
  await page.getByRole('heading', { name: /alice@example.com/ }).waitFor();
  await page.getByLabel('Grant credits (this period)').fill('250');
  await page.getByLabel('Note').fill('launch week');
  await page.getByRole('button', { name: 'Grant' }).click();
  await page.getByRole('cell', { name: 'launch week' }).waitFor({ timeout: 5000 });
  check('a grant is in the ledger and the totals', (await page.getByText(/250 granted/).count()) === 1);
  await shot(page, '15-usage-operator');

  // dark mode follows the system
  // (a viewer in India: the task's zone shown, the viewer's on hover)
  const dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 900 }, timezoneId: 'Asia/Kolkata' });
  const dp = await dark.newPage();
  await signIn(dp, env.OP_KEY);
  const bg = await dp.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check('dark mode follows the system', bg === 'rgb(13, 17, 23)', bg);
  await dp.getByRole('link', { name: 'Schedules' }).click();
  const nightly = dp.getByRole('row', { name: /alice nightly/ }).locator('time').first();
  await nightly.waitFor();
  const [shown, hover] = [await nightly.textContent(), await nightly.getAttribute('title')];
  check("times show in the task's zone, the viewer's on hover", /03:00:00 GMT/.test(shown) && /08:30:00 GMT\+5:30 \(Asia\/(Kolkata|Calcutta), your zone\)/.test(hover),
        `${shown} | ${hover}`);
  await shot(dp, '10-schedules-dark');
} catch (e) {
  failed++;
  console.log(`FAIL: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// SPDX-License-Identifier: MIT
// N open dashboards for SECONDS, each asking every 2 s for what its page shows, as the pages
// do: half on the overview and schedules, half on runs. One process with kept-alive
// connections, as browsers would hold them (a process per request would cost the machine more
// than the server). Prints how many requests were answered and how many failed.
// env: BASE, KEY, N (default 20), SECONDS (default 60)
const env = process.env;
const n = Number(env.N || 20), until = Date.now() + Number(env.SECONDS || 60) * 1000;
const headers = { Authorization: `Bearer ${env.KEY}` };
let answered = 0, failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function dashboard(i) {
  const paths = i % 2 ? ['/api/runs?limit=50'] : ['/api/overview', '/api/tasks?limit=200'];
  await sleep((2000 * i) / n); // not all at once, as people open pages
  while (Date.now() < until) {
    for (const p of paths) {
      try { const r = await fetch(env.BASE + p, { headers }); await r.arrayBuffer(); r.ok ? answered++ : failed++; }
      catch { failed++; }
    }
    await sleep(2000);
  }
}
await Promise.all([...Array(n).keys()].map(dashboard));
console.log(JSON.stringify({ dashboards: n, answered, failed }));

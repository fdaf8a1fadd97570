// SPDX-License-Identifier: MIT
// BullMQ's job schedulers as the peer of agentcron's orchestrator: N schedulers with the
// pattern '* * * * *' on one Redis, a Worker (concurrency 64, no-op processor), and how long
// after the minute each job of one chosen minute starts. Prints JSON.
// Usage: node bullmq_schedulers.mjs HOST PORT DB N
import { Queue, Worker } from 'bullmq';

const [host, port, db, n] = process.argv.slice(2);
const N = Number(n);
const connection = { host, port: Number(port), db: Number(db), maxRetriesPerRequest: null };
const queue = new Queue('bench', { connection });
await queue.obliterate({ force: true });
const t0 = Date.now();
for (let i = 0; i < N; i += 500) {
  const batch = [];
  for (let j = i; j < Math.min(N, i + 500); j++)
    batch.push(queue.upsertJobScheduler(`s${j}`, { pattern: '* * * * *' }, { name: 'noop', data: {} }));
  await Promise.all(batch);
}
const setupMs = Date.now() - t0;
// measure the first whole minute that starts at least 3 s after the schedulers exist
const minute = Math.ceil((Date.now() + 3000) / 60000) * 60000;
const lateness = [];
let done;
const finished = new Promise((resolve) => (done = resolve));
const worker = new Worker('bench', async () => {
  const now = Date.now();
  if (now >= minute && now < minute + 60000) {
    lateness.push(now - minute);
    if (lateness.length === N) done();
  }
}, { connection, concurrency: 64 });
const timeout = setTimeout(done, minute - Date.now() + 60000);
await finished;
clearTimeout(timeout);
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
lateness.sort((a, b) => a - b);
const pct = (p) => lateness.length ? lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] : null;
console.log(JSON.stringify({ schedulers: N, setupMs, started: lateness.length, p50: pct(0.5), p99: pct(0.99),
                             max: lateness.length ? lateness[lateness.length - 1] : null }));
process.exit(0);

// SPDX-License-Identifier: MIT
// BullMQ as the peer of agentcron's workers: N no-op jobs with random priorities 1-4 added in
// bulk, then one Worker (concurrency C, no-op processor) drains them. Prints JSON: jobs/s of
// the drain (and of adding).
// Usage: node bullmq_worker.mjs HOST PORT DB N C
import { Queue, Worker } from 'bullmq';

const [host, port, db, n, c] = process.argv.slice(2);
const N = Number(n);
const connection = { host, port: Number(port), db: Number(db), maxRetriesPerRequest: null };
const queue = new Queue('bench-worker', { connection });
await queue.obliterate({ force: true });
const t0 = performance.now();
for (let i = 0; i < N; i += 1000) {
  const jobs = [];
  for (let j = i; j < Math.min(N, i + 1000); j++)
    jobs.push({ name: 'noop', data: { i: j }, opts: { priority: 1 + Math.floor(Math.random() * 4) } });
  await queue.addBulk(jobs);
}
const addS = (performance.now() - t0) / 1000;
let done = 0, finish;
const finished = new Promise((resolve) => (finish = resolve));
const start = performance.now();
const worker = new Worker('bench-worker', async () => {}, { connection, concurrency: Number(c) });
worker.on('completed', () => { if (++done === N) finish(); });
await finished;
const seconds = (performance.now() - start) / 1000;
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
console.log(JSON.stringify({ jobs: N, seconds: +seconds.toFixed(3), jobs_per_s: Math.round(N / seconds),
                             add_per_s: Math.round(N / addS) }));

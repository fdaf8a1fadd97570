// SPDX-License-Identifier: MIT
// graphile-worker as the peer of agentcron's workers: a Postgres-only queue (no Redis, no run
// history: a finished job is deleted). N no-op jobs with random priorities 1-4 added with
// add_jobs in batches, then one runner (concurrency C) drains them with the settings of
// graphile-worker's own performance page: a local queue of 500 and batched completion
// (completeJobBatchDelay 0), a pool of one connection more than the concurrency. Done when the
// jobs table is empty. Prints JSON: jobs/s of the drain (and of adding), and how many times the
// task function ran.
// Usage: node graphile_worker.mjs DATABASE_URL N C
import { Logger, makeWorkerUtils, run } from 'graphile-worker';

const [connectionString, n, c] = process.argv.slice(2);
const N = Number(n);
const logger = new Logger(() => (level, message) => { if (level === 'error' || level === 'warning') console.error(message); });
const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
await utils.withPgClient((pg) => pg.query('DELETE FROM graphile_worker._private_jobs'));
const t0 = performance.now();
for (let i = 0; i < N; i += 1000) {
  const jobs = [];
  for (let j = i; j < Math.min(N, i + 1000); j++)
    jobs.push({ identifier: 'noop', payload: { i: j }, priority: 1 + Math.floor(Math.random() * 4) });
  await utils.addJobs(jobs);
}
const addS = (performance.now() - t0) / 1000;
// as agentcron's full path gets: the planner knows the table it drains
await utils.withPgClient((pg) => pg.query('VACUUM ANALYZE graphile_worker._private_jobs'));
const left = async () =>
  Number((await utils.withPgClient((pg) => pg.query('SELECT count(*) AS n FROM graphile_worker._private_jobs'))).rows[0].n);
let executed = 0;
const start = performance.now();
const runner = await run({
  taskList: { noop: async () => { executed++; } },
  noHandleSignals: true,
  preset: {
    worker: {
      connectionString, concurrentJobs: Number(c), maxPoolSize: Number(c) + 1, pollInterval: 1000,
      localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0,
    },
  },
  logger,
});
while ((await left()) > 0)
  await new Promise((resolve) => setTimeout(resolve, 20));
const seconds = (performance.now() - start) / 1000;
await runner.stop();
await utils.release();
console.log(JSON.stringify({ jobs: N, executed, seconds: +seconds.toFixed(3), jobs_per_s: Math.round(N / seconds),
                             add_per_s: Math.round(N / addS) }));

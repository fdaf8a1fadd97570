// SPDX-License-Identifier: MIT
// Runs bench/cron_corpus.txt through cron-parser and croner, exactly as bench/cron_bench.c runs
// it through cronparse, then prints ns per next() for all three with ratios, and every place
// where a peer's fire times differ from ours, with the likely reason.
// Usage: node cron_peers.mjs CORPUS_FILE OURS_JSON
import { readFileSync } from 'node:fs';
import { CronExpressionParser } from 'cron-parser';
import { Cron } from 'croner';

const [corpusFile, oursFile] = process.argv.slice(2);
const ours = JSON.parse(readFileSync(oursFile, 'utf8'));
const CHAIN = 2000, RUNS = 3, FIRES = 30;
const START = new Date('2026-01-01T00:00:00Z');

const peers = {
  'cron-parser': {
    chain(expr, tz) {
      const it = CronExpressionParser.parse(expr, { currentDate: START, tz });
      return () => it.next().getTime();
    },
    fires(expr, tz, from) {
      const it = CronExpressionParser.parse(expr, { currentDate: new Date(from), tz });
      const out = [];
      for (let i = 0; i < FIRES; i++) out.push(new Date(it.next().getTime()).toISOString().replace('.000Z', 'Z'));
      return out;
    },
  },
  croner: {
    chain(expr, tz) {
      const job = new Cron(expr, { timezone: tz });
      let d = START;
      return () => { d = job.nextRun(d) ?? START; return d.getTime(); };
    },
    fires(expr, tz, from) {
      const job = new Cron(expr, { timezone: tz });
      const out = [];
      let d = new Date(from);
      for (let i = 0; i < FIRES; i++) {
        d = job.nextRun(d);
        if (!d) break;
        out.push(d.toISOString().replace('.000Z', 'Z'));
      }
      return out;
    },
  },
};

function timeChain(next) {
  for (let i = 0; i < 200; i++) next(); // warm up the JIT
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHAIN; i++) next();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / CHAIN);
  }
  return best;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (ns) => ns >= 1000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;

function offsetMinutes(tz, ms) {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' }).formatToParts(new Date(ms));
  const m = /GMT([+-])(\d\d):(\d\d)/.exec(parts.find((p) => p.type === 'timeZoneName').value);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

function localTime(tz, iso) {
  return new Date(iso).toLocaleString('sv-SE', { timeZone: tz }) + ` (${iso})`;
}

function reason(expr, tz, at) {
  const f = expr.trim().split(/\s+/);
  const [dom, dow] = [f[2], f[4]];
  const restricted = (x) => x !== '*' && x !== '?';
  if (restricted(dom) && restricted(dow) && (dom.startsWith('*') || dow.startsWith('*')))
    return 'reads a day field beginning with * (like */2) as a restriction joined by OR; cronie and our contract join with AND';
  const ms = Date.parse(at);
  if (offsetMinutes(tz, ms - 86400000) !== offsetMinutes(tz, ms + 86400000))
    return 'DST: a fixed-time job moved, skipped or doubled around the transition, where our contract fires once at the gap end or the first instance';
  return 'other';
}

const lines = readFileSync(corpusFile, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
const zones = [...new Set(ours.results.map((r) => r.zone))];
const table = {}; // zone -> { ours: [], peer: [] }
const diffs = [];
const errors = [];
for (const r of ours.results) {
  const row = (table[r.zone] ??= { ours: [], 'cron-parser': [], croner: [] });
  row.ours.push(r.ns);
  for (const [name, peer] of Object.entries(peers)) {
    try {
      row[name].push(timeChain(peer.chain(r.expr, r.zone)));
    } catch (e) {
      errors.push(`${name} on "${r.expr}" in ${r.zone}: ${String(e.message ?? e).split('\n')[0]}`);
    }
    for (const [from, mine] of Object.entries(r.fires)) {
      let theirs;
      try { theirs = peer.fires(r.expr, r.zone, from); } catch (e) { continue; }
      const i = mine.findIndex((x, k) => x !== theirs[k]);
      if (i >= 0) diffs.push({ peer: name, expr: r.expr, zone: r.zone, ours: mine[i], theirs: theirs[i] ?? 'nothing' });
    }
  }
}

console.log(`ns per next(), median over ${lines.length} expressions (chains of ${ours.chain} calls for cronparse, ${CHAIN} for the peers; best of several runs)\n`);
console.log('zone'.padEnd(22) + 'cronparse'.padStart(11) + 'croner'.padStart(11) + 'cron-parser'.padStart(13) + '   faster peer / cronparse');
let allOk = true;
const allOurs = [];
for (const zone of zones) {
  const row = table[zone];
  const m = median(row.ours), c = median(row.croner), p = median(row['cron-parser']);
  allOurs.push(...row.ours);
  const ratio = Math.min(c, p) / m;
  if (!(ratio >= 50)) allOk = false;
  console.log(zone.padEnd(22) + fmt(m).padStart(11) + fmt(c).padStart(11) + fmt(p).padStart(13) + `   ${ratio.toFixed(0)}x`);
}
const overall = median(allOurs);
console.log(`\ncronparse median over all expressions and zones: ${fmt(overall)} per next()`);
console.log(`targets: >= 50x the faster peer in every zone: ${allOk ? 'met' : 'NOT met'}; median < 500 ns: ${overall < 500 ? 'met' : 'NOT met'}`);

if (errors.length) {
  console.log(`\npeer errors (${errors.length}):`);
  for (const e of [...new Set(errors)]) console.log(`  ${e}`);
}
console.log(`\nwhere the peers' fire times differ from ours (first difference per expression, zone and probe; ${diffs.length} in all):`);
const seen = new Set();
for (const d of diffs) {
  const key = `${d.peer}|${d.expr}|${d.zone}`;
  if (seen.has(key)) continue;
  seen.add(key);
  console.log(`  ${d.peer.padEnd(11)} "${d.expr}" in ${d.zone}: ours ${localTime(d.zone, d.ours)}, theirs ${d.theirs === 'nothing' ? 'nothing' : localTime(d.zone, d.theirs)}`);
  console.log(`              likely: ${reason(d.expr, d.zone, d.ours)}`);
}

/* SPDX-License-Identifier: MIT */
/* The queue's Lua scripts (docs/architecture.md), one per multi-step change, so each change is
 * atomic in Redis. Keys: agentcron:{NAME}:waiting|delayed|active|dead (sorted sets),
 * :seq (FIFO counter), :wake (list idle consumers block on), :counters (hash), :job:ID (hash).
 *
 * waiting is scored priority * 2^44 + seq: lowest first, so priority 1 (urgent) leaves first and
 * equal priorities leave in arrival order; the sum stays an exact integer in a double. A job
 * keeps its seq for life, so a requeued job returns to its place. delayed is scored by ready
 * time, active by lease deadline, dead by time of death (all ms). Scripts that walk many jobs
 * build job keys from KEYS' prefix; every key shares the {NAME} hash tag, so all of them live
 * in one Redis Cluster slot. While that slot migrates, a script must not run on either node with
 * half its keys moved: so each script names in KEYS every key it touches, or else the job-key
 * prefix itself, a key that never exists, and the cluster refuses it (ASK or TRYAGAIN) until
 * the move ends. Keep it so for new scripts. A job hash holds priority, task, attempt, enqueued_at, seq and
 * state, plus payload when there is one, ready_at once promoted from delayed (when it became
 * claimable), and worker/deliveries once claimed.
 * Included by queue.c only. */
#ifndef AGENTCRON_QUEUE_SCRIPTS_H
#define AGENTCRON_QUEUE_SCRIPTS_H

/* Lua functions the scripts that move many jobs start with: in_chunks(cmd, key, list, n) calls
 * cmd on key with list's values n at a time (Lua's unpack has a stack limit of about 8,000
 * values); zadd_all(key, flat) adds a flat list of score, member pairs 1,000 pairs a call. */
#define LUA_IN_CHUNKS                                                                                   \
    "local function in_chunks(cmd, key, list, n)\n"                                                     \
    "  for i = 1, #list, n do redis.call(cmd, key, unpack(list, i, math.min(i + n - 1, #list))) end\n"   \
    "end\n"                                                                                             \
    "local function zadd_all(key, flat) in_chunks('ZADD', key, flat, 2000) end\n"

/* KEYS: waiting delayed job seq wake counters. ARGV: id priority ready_at now payload task
 * attempt ttl. Returns 1 if added, 0 if the id is already known (idempotent). */
static const char lua_enqueue[] =
    "if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end\n"
    "local seq = redis.call('INCR', KEYS[4])\n"
    "redis.call('HSET', KEYS[3], 'priority', ARGV[2], 'task', ARGV[6], 'attempt', ARGV[7], 'enqueued_at', ARGV[4],\n"
    "  'seq', seq)\n"
    "if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], 'payload', ARGV[5]) end\n"
    "if tonumber(ARGV[3]) > tonumber(ARGV[4]) then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])\n"
    "  redis.call('HSET', KEYS[3], 'state', 'delayed')\n"
    "else\n"
    "  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) * 17592186044416 + seq, ARGV[1])\n"
    "  redis.call('HSET', KEYS[3], 'state', 'waiting')\n"
    "  redis.call('RPUSH', KEYS[5], 1)\n"
    "  redis.call('LTRIM', KEYS[5], -256, -1)\n"
    "end\n"
    "redis.call('HINCRBY', KEYS[6], 'enqueued', 1)\n"
    "return 1\n";

/* KEYS: waiting delayed seq wake counters job-prefix. ARGV: now ttl, then per job: id
 * priority ready_at task attempt payload. Enqueues many jobs in one call, each exactly as
 * lua_enqueue would (an id already known, or twice in the call, is added once). The counters
 * and the sorted sets are written once per call (LUA_IN_CHUNKS), each job's hash once: calls from
 * Lua, not their work, were most of what a job cost. Returns how many were added. */
static const char lua_enqueue_batch[] =
    LUA_IN_CHUNKS
    "local now, new, seen = tonumber(ARGV[1]), {}, {}\n"
    "for i = 3, #ARGV, 6 do\n"
    "  if not seen[ARGV[i]] and redis.call('EXISTS', KEYS[6] .. ARGV[i]) == 0 then new[#new + 1] = i end\n"
    "  seen[ARGV[i]] = true\n"
    "end\n"
    "if #new == 0 then return 0 end\n"
    "local seq = redis.call('INCRBY', KEYS[3], #new) - #new\n"
    "local delayed, waiting = {}, {}\n"
    "for _, i in ipairs(new) do\n"
    "  seq = seq + 1\n"
    "  local id, ready = ARGV[i], tonumber(ARGV[i + 2])\n"
    "  local state = ready > now and 'delayed' or 'waiting'\n"
    "  local h = {'priority', ARGV[i + 1], 'task', ARGV[i + 3], 'attempt', ARGV[i + 4], 'enqueued_at', ARGV[1],\n"
    "    'seq', seq, 'state', state}\n"
    "  if ARGV[i + 5] ~= '' then h[#h + 1] = 'payload' h[#h + 1] = ARGV[i + 5] end\n"
    "  redis.call('HSET', KEYS[6] .. id, unpack(h))\n"
    "  if state == 'delayed' then\n"
    "    delayed[#delayed + 1] = ready delayed[#delayed + 1] = id\n"
    "  else\n"
    "    waiting[#waiting + 1] = tonumber(ARGV[i + 1]) * 17592186044416 + seq waiting[#waiting + 1] = id\n"
    "  end\n"
    "end\n"
    "zadd_all(KEYS[2], delayed)\n"
    "zadd_all(KEYS[1], waiting)\n"
    "if #waiting > 0 then redis.call('RPUSH', KEYS[4], 1) redis.call('LTRIM', KEYS[4], -256, -1) end\n"
    "redis.call('HINCRBY', KEYS[5], 'enqueued', #new)\n"
    "return #new\n";

/* KEYS: waiting active job-prefix. ARGV: worker lease_ms now max. Returns up to max jobs as
 * {id, task, priority, attempt, payload, deliveries, lapsed}, each now leased to worker;
 * lapsed is 1 when the job's previous lease lapsed (its worker died or hung), once. The
 * sorted sets are popped and added to once for the batch, and each job's hash read and written
 * once: a call from Lua cost Redis more than the work of most of them. */
static const char lua_claim[] =
    LUA_IN_CHUNKS
    "local out, leases = {}, {}\n"
    "local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[4])\n"
    "local deadline = tonumber(ARGV[3]) + tonumber(ARGV[2])\n"
    "for i = 1, #popped, 2 do\n"
    "  local id = popped[i]\n"
    "  local jk = KEYS[3] .. id\n"
    "  local f = redis.call('HMGET', jk, 'task', 'priority', 'attempt', 'payload', 'deliveries', 'lapsed')\n"
    "  local deliveries = (tonumber(f[5]) or 0) + 1\n"
    "  redis.call('HSET', jk, 'state', 'active', 'worker', ARGV[1], 'deliveries', deliveries)\n"
    "  if f[6] then redis.call('HDEL', jk, 'lapsed') end\n"
    "  leases[#leases + 1] = deadline\n"
    "  leases[#leases + 1] = id\n"
    "  out[#out + 1] = {id, f[1] or '0', f[2] or '3', f[3] or '1', f[4] or '', tostring(deliveries), f[6] or '0'}\n"
    "end\n"
    "zadd_all(KEYS[2], leases)\n"
    "return out\n";

/* KEYS: active job. ARGV: id worker deadline. Returns 1 renewed, 2 renewed and cancellation
 * requested, -1 the lease is no longer this worker's. */
static const char lua_renew[] =
    "if redis.call('HGET', KEYS[2], 'worker') ~= ARGV[2] or not redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n"
    "  return -1\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])\n"
    "if redis.call('HGET', KEYS[2], 'cancel') == '1' then return 2 end\n"
    "return 1\n";

/* KEYS: active job counters. ARGV: id worker outcome(completed|failed|cancelled) ttl.
 * Returns 1, or 0 when the lease is no longer this worker's (nothing changes). */
static const char lua_ack[] =
    "if redis.call('HGET', KEYS[2], 'worker') ~= ARGV[2] or redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'state', ARGV[3])\n"
    "redis.call('HDEL', KEYS[2], 'worker', 'payload', 'cancel')\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[4])\n"
    "redis.call('HINCRBY', KEYS[3], ARGV[3], 1)\n"
    "return 1\n";

/* lua_ack for many jobs in one call: KEYS: active counters job-prefix. ARGV: worker ttl, then
 * id outcome pairs. Returns a 1 or a 0 for each pair, as lua_ack would; the counters move once
 * per outcome. One call instead of one per job: the call itself cost Redis more than its work. */
static const char lua_ack_many[] =
    "local out, done = {}, {}\n"
    "for i = 3, #ARGV, 2 do\n"
    "  local jk = KEYS[3] .. ARGV[i]\n"
    "  if redis.call('HGET', jk, 'worker') == ARGV[1] and redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then\n"
    "    redis.call('HSET', jk, 'state', ARGV[i + 1])\n"
    "    redis.call('HDEL', jk, 'worker', 'payload', 'cancel')\n"
    "    redis.call('EXPIRE', jk, ARGV[2])\n"
    "    done[ARGV[i + 1]] = (done[ARGV[i + 1]] or 0) + 1\n"
    "    out[#out + 1] = 1\n"
    "  else\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "for outcome, n in pairs(done) do redis.call('HINCRBY', KEYS[2], outcome, n) end\n"
    "return out\n";

/* KEYS: active delayed job counters. ARGV: id worker ready_at attempt. Back to the delayed
 * set for a later attempt. Returns 1, or 0 when the lease is no longer this worker's. */
static const char lua_retry[] =
    "if redis.call('HGET', KEYS[3], 'worker') ~= ARGV[2] or redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[3], 'state', 'delayed', 'attempt', ARGV[4])\n"
    "redis.call('HDEL', KEYS[3], 'worker', 'cancel')\n"
    "redis.call('HINCRBY', KEYS[4], 'retried', 1)\n"
    "return 1\n";

/* KEYS: active dead job counters. ARGV: id worker now reason. To the dead set, kept for
 * inspection and replay. Returns 1, or 0 when the lease is no longer this worker's. */
static const char lua_bury[] =
    "if redis.call('HGET', KEYS[3], 'worker') ~= ARGV[2] or redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])\n"
    "redis.call('HSET', KEYS[3], 'state', 'dead', 'reason', ARGV[4])\n"
    "redis.call('HDEL', KEYS[3], 'worker', 'cancel')\n"
    "redis.call('HINCRBY', KEYS[4], 'failed', 1)\n"
    "return 1\n";

/* KEYS: delayed waiting wake job-prefix. ARGV: now max. Moves due delayed jobs to waiting,
 * noting when (ready_at); the sorted sets are written once per call (LUA_IN_CHUNKS), each job's hash
 * read and written once. Returns {moved, ms of the next delayed job or -1}. */
static const char lua_promote[] =
    LUA_IN_CHUNKS
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local scored = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local jk = KEYS[4] .. id\n"
    "  local f = redis.call('HMGET', jk, 'priority', 'seq')\n"
    "  redis.call('HSET', jk, 'state', 'waiting', 'ready_at', ARGV[1])\n"
    "  scored[#scored + 1] = (tonumber(f[1]) or 3) * 17592186044416 + (tonumber(f[2]) or 0)\n"
    "  scored[#scored + 1] = id\n"
    "end\n"
    "in_chunks('ZREM', KEYS[1], ids, 1000)\n"
    "zadd_all(KEYS[2], scored)\n"
    "if #ids > 0 then redis.call('RPUSH', KEYS[3], 1) redis.call('LTRIM', KEYS[3], -256, -1) end\n"
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {#ids, nxt[2] and tonumber(nxt[2]) or -1}\n";

/* KEYS: active waiting wake job-prefix counters. ARGV: now max. Jobs whose lease expired (their
 * worker died) go back to their place in waiting, marked lapsed for the next claim. Returns
 * their ids. */
static const char lua_requeue_expired[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, id in ipairs(ids) do\n"
    "  local jk = KEYS[4] .. id\n"
    "  local f = redis.call('HMGET', jk, 'priority', 'seq')\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('ZADD', KEYS[2], (tonumber(f[1]) or 3) * 17592186044416 + (tonumber(f[2]) or 0), id)\n"
    "  redis.call('HSET', jk, 'state', 'waiting')\n"
    "  redis.call('HDEL', jk, 'worker')\n"
    "  redis.call('HSET', jk, 'lapsed', 1)\n"
    "  redis.call('HINCRBY', KEYS[5], 'requeued', 1)\n"
    "end\n"
    "if #ids > 0 then redis.call('RPUSH', KEYS[3], 1) redis.call('LTRIM', KEYS[3], -256, -1) end\n"
    "return ids\n";

/* KEYS: waiting delayed active job counters. ARGV: id ttl. Returns 1 removed before it ran,
 * 2 running (its worker sees the request when it renews the lease), 0 not in the queue. */
static const char lua_cancel[] =
    "if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 or redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[4], 'state', 'cancelled')\n"
    "  redis.call('HDEL', KEYS[4], 'payload')\n"
    "  redis.call('EXPIRE', KEYS[4], ARGV[2])\n"
    "  redis.call('HINCRBY', KEYS[5], 'cancelled', 1)\n"
    "  return 1\n"
    "end\n"
    "if redis.call('ZSCORE', KEYS[3], ARGV[1]) then\n"
    "  redis.call('HSET', KEYS[4], 'cancel', '1')\n"
    "  return 2\n"
    "end\n"
    "return 0\n";

/* KEYS: user-slots rate. ARGV: id now lease_deadline user_limit rate_max rate_period_ms.
 * Admits a run under its user's concurrency limit (user-slots: running ids scored by lease
 * deadline, so a dead worker's slots lapse) and its agent's rate limit (rate: start times in a
 * sliding window). Returns {1, 0} admitted, or {0, ms to wait}. A limit of 0 is none. */
static const char lua_admit[] =
    "local now, limit, rmax, period = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "if limit > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then\n"
    "    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "    return {0, math.max(250, math.min(1000, tonumber(first[2]) - now))}\n"
    "  end\n"
    "end\n"
    "if rmax > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - period)\n"
    "  if redis.call('ZCARD', KEYS[2]) >= rmax then\n"
    "    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
    "    return {0, math.max(1, tonumber(first[2]) + period - now)}\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[2], now, ARGV[1] .. '@' .. now)\n"
    "  redis.call('PEXPIRE', KEYS[2], period)\n"
    "end\n"
    "if limit > 0 then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "  redis.call('PEXPIREAT', KEYS[1], ARGV[3])\n"
    "end\n"
    "return {1, 0}\n";

#endif

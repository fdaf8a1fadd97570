#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An exec agent's command using the step protocol (docs/steps.md), for the tests: steps
s1..sN of the run (the goal, JSON, as in step_peer.py), each reserved and reported with a line
on stdout and its answer read from AGENTCRON_REPLY_FD. Events go to the log named by its
first argument, as step_peer.py writes them; "pause" positions (by the run's start) sleep until
the worker (and with it this command) is killed; "fail_after": STEP exits 1 once that step is
recorded, in the run's first start."""
import json
import os
import sys
import time

log_path = sys.argv[1]
run_input = json.load(sys.stdin)
run, attempt, goal = run_input["run"], run_input["attempt"], json.loads(run_input["goal"])
replies = os.fdopen(int(os.environ["AGENTCRON_REPLY_FD"]), "r")
with open(os.environ["AGENTCRON_STEPS_FILE"]) as f:
    from_file = json.load(f)


starts_file = f"{log_path}.{run}.starts"
start = (int(open(starts_file).read()) if os.path.exists(starts_file) else 0) + 1
with open(starts_file, "w") as f:
    f.write(str(start))


def log(**event):
    with open(log_path, "a") as f:
        f.write(json.dumps(event) + "\n")


def ask(line):
    print(json.dumps(line), flush=True)
    return json.loads(replies.readline())


def pause(at):
    pauses = goal.get("pause") or []
    if start <= len(pauses) and pauses[start - 1] == at:
        log(event="paused", run=run, start=start, attempt=attempt, at=at)
        time.sleep(600)


done = {s["id"] for s in run_input["steps"]}
if done != {s["id"] for s in from_file}:
    log(event="mismatch", run=run, stdin=sorted(done), file=[s["id"] for s in from_file])
prompt, completion = goal.get("tokens", [100, 50])
for i in range(1, goal["steps"] + 1):
    sid = f"s{i}"
    if sid in done:
        continue
    r = ask({"reserve": sid, "credits": goal.get("credits", 1)})
    if r["status"] == "duplicate":
        continue
    if r["status"] != "granted":
        log(event="refused", run=run, attempt=attempt, step=sid, reason=r.get("reason"), message=r.get("message"))
        sys.exit(0)
    pause(f"{sid}:mid")
    log(event="executed", run=run, step=sid, attempt=attempt)
    r = ask({"step": sid, "output": {"i": i, "attempt": attempt},
             "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})
    if r["status"] not in ("recorded", "duplicate"):
        log(event="stopped", run=run, attempt=attempt, step=sid, status=r["status"])
        sys.exit(1)
    pause(f"{sid}:after")
    if goal.get("fail_after") == sid and start == 1:
        print(f"failing after {sid}", file=sys.stderr)
        sys.exit(1)
print("all steps done")

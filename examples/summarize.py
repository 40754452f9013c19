#!/usr/bin/python3
"""Summarize a REVRX_RECORD file written by examples/app/tasks.py.

    summarize.py /tmp/run.jsonl            # human-readable
    summarize.py --json /tmp/run.jsonl     # the same as one JSON object

Counts are per task id:
  started               distinct ids with a "start" line
  finished              distinct ids with an "end" line
  failed                ids whose last "end" has ok=false
  started_twice         ids with more than one "start" (ran more than once)
  started_not_finished  ids with a "start" but no "end" (lost mid-task)
  wait_seconds          started - published_at of each id's first start
                        (only ids whose message carried published_at)
  per_worker            "start" lines per worker node name
A missing file counts as empty (nothing ran yet). Always exits 0.
"""
import argparse
import json
import math
import signal
import sys


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_vals:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_vals)))
    return sorted_vals[rank - 1]


def summarize(lines):
    starts, ends = {}, {}
    per_worker = {}
    malformed = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
            tid, event = rec["id"], rec["event"]
        except (ValueError, KeyError, TypeError):
            malformed += 1
            continue
        if event == "start":
            starts.setdefault(tid, []).append(rec)
            w = rec.get("worker") or "?"
            per_worker[w] = per_worker.get(w, 0) + 1
        elif event == "end":
            ends.setdefault(tid, []).append(rec)
        else:
            malformed += 1

    waits = []
    for recs in starts.values():
        first = min(recs, key=lambda r: r.get("started") or 0)
        pub, st = first.get("published_at"), first.get("started")
        if isinstance(pub, (int, float)) and isinstance(st, (int, float)):
            waits.append(max(0.0, st - pub))
    waits.sort()
    twice = sorted(t for t, r in starts.items() if len(r) > 1)
    not_finished = sorted(t for t in starts if t not in ends)
    failed = sorted(t for t, r in ends.items() if r[-1].get("ok") is False)
    runtimes = sorted(r["finished"] - r["started"] for rs in ends.values() for r in rs
                      if isinstance(r.get("finished"), (int, float))
                      and isinstance(r.get("started"), (int, float)))

    def rnd(v):
        return None if v is None else round(v, 4)

    return {
        "started": len(starts),
        "finished": len(ends),
        "failed": len(failed),
        "started_twice": len(twice),
        "started_not_finished": len(not_finished),
        "started_twice_ids": twice,
        "started_not_finished_ids": not_finished,
        "wait_seconds": {
            "count": len(waits),
            "p50": rnd(percentile(waits, 50)),
            "p95": rnd(percentile(waits, 95)),
            "max": rnd(waits[-1] if waits else None),
        },
        "runtime_seconds": {
            "p50": rnd(percentile(runtimes, 50)),
            "max": rnd(runtimes[-1] if runtimes else None),
        },
        "per_worker": dict(sorted(per_worker.items())),
        "malformed_lines": malformed,
    }


def fmt(v):
    return "-" if v is None else "%.3fs" % v


def print_text(s):
    w = s["wait_seconds"]
    print("tasks started:        %d" % s["started"])
    print("tasks finished:       %d" % s["finished"])
    print("tasks failed:         %d" % s["failed"])
    print("started twice:        %d%s" % (s["started_twice"],
          "  " + " ".join(s["started_twice_ids"][:5]) if s["started_twice"] else ""))
    print("started not finished: %d%s" % (s["started_not_finished"],
          "  " + " ".join(s["started_not_finished_ids"][:5]) if s["started_not_finished"] else ""))
    print("wait (start - publish) over %d: p50 %s  p95 %s  max %s" % (
        w["count"], fmt(w["p50"]), fmt(w["p95"]), fmt(w["max"])))
    print("runtime: p50 %s  max %s" % (fmt(s["runtime_seconds"]["p50"]),
                                       fmt(s["runtime_seconds"]["max"])))
    print("per worker (starts):")
    for worker, n in s["per_worker"].items():
        print("  %-30s %d" % (worker, n))
    if s["malformed_lines"]:
        print("malformed lines:      %d" % s["malformed_lines"])


def main(argv=None):
    p = argparse.ArgumentParser(description="Summarize a REVRX_RECORD task log.")
    p.add_argument("record", help="the REVRX_RECORD file (JSON lines)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    try:
        with open(args.record, errors="replace") as f:
            s = summarize(f)
    except FileNotFoundError:
        print("summarize: %s does not exist: counting it as empty" % args.record, file=sys.stderr)
        s = summarize([])
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_text(s)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    sys.exit(main())

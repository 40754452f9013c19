#!/usr/bin/python3
"""Replay a load trace (or one burst) as real tasks.sleep messages.

    producer.py --trace ../supervisor/simulate/testdata/spiky.trace --queue reports --speed 4
    producer.py --burst 40 --seconds 2 --queue reports,urgent --priority 5

Trace format (traces/README.md): one ``at_seconds count task_seconds`` per
line, ``#`` starts a comment. At each offset (monotonic clock, from the start
of the run) the line's ``count`` tasks are published together, each
``tasks.sleep(task_seconds)`` via ``apply_async(args=[task_seconds],
queue=Q, priority=P)``. Several queues are used round robin, task by task.

--speed F compresses the whole timeline by F: offsets AND task durations are
divided by F, so the load keeps its shape (the same number of busy workers
is needed, only F times sooner). --keep-durations divides only the offsets.

The app is imported from examples/app, so the publish_stamp hook stamps
headers['published_at'] on every message. The broker password is never
printed.
"""
import argparse
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_PW_IN_URL = re.compile(r"(://[^:/@;\s]*:)[^@;\s]*@")
_PW_IN_QUERY = re.compile(r"((?:password|passwd|pw)=)[^&;\s]*", re.I)


def redact(text):
    """Hide passwords in every URL of ``text`` (user:pw@ and password=)."""
    text = _PW_IN_URL.sub(r"\1***@", str(text))
    return _PW_IN_QUERY.sub(r"\1***", text)


def parse_trace(path):
    """Return [(at_seconds, count, task_seconds)] sorted by offset."""
    entries = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 3:
                raise ValueError("%s:%d: want 'at_seconds count task_seconds', got %r"
                                 % (path, lineno, raw.rstrip("\n")))
            try:
                at, count, secs = float(fields[0]), int(fields[1]), float(fields[2])
            except ValueError:
                raise ValueError("%s:%d: bad number in %r" % (path, lineno, raw.rstrip("\n")))
            if at < 0 or count < 0 or secs < 0:
                raise ValueError("%s:%d: negative value in %r" % (path, lineno, raw.rstrip("\n")))
            entries.append((at, count, secs))
    entries.sort(key=lambda e: e[0])  # stable: lines with the same offset keep their order
    return entries


def parse_args(argv):
    p = argparse.ArgumentParser(description="Publish tasks.sleep load from a trace or a burst.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="FILE", help="trace file: 'at_seconds count task_seconds' lines")
    src.add_argument("--burst", type=int, metavar="N", help="publish N tasks at once")
    p.add_argument("--seconds", type=float, default=1.0, metavar="S",
                   help="task duration for --burst (default 1)")
    p.add_argument("--queue", "-Q", action="append", metavar="Q",
                   help="queue (default celery); repeat or comma-separate for round robin")
    p.add_argument("--priority", type=int, metavar="P", help="message priority 0-9 (default none)")
    p.add_argument("--speed", type=float, default=1.0, metavar="F",
                   help="time compression factor (default 1)")
    p.add_argument("--keep-durations", action="store_true",
                   help="with --speed, compress only the offsets, not task durations")
    p.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL"),
                   help="broker URL (default $CELERY_BROKER_URL)")
    p.add_argument("--key-prefix", default=os.environ.get("REVRX_KEY_PREFIX"),
                   help="kombu global_keyprefix (default $REVRX_KEY_PREFIX)")
    p.add_argument("--tag", help="passed to every task as tag=")
    args = p.parse_args(argv)
    queues = [q.strip() for arg in (args.queue or ["celery"]) for q in arg.split(",") if q.strip()]
    if not queues:
        p.error("--queue: no queue name given")
    args.queues = queues
    if args.speed <= 0:
        p.error("--speed must be > 0")
    if args.burst is not None and args.burst < 0:
        p.error("--burst must be >= 0")
    if args.seconds < 0:
        p.error("--seconds must be >= 0")
    if not args.broker:
        p.error("no broker: set CELERY_BROKER_URL or pass --broker")
    return args


def load_app(broker, key_prefix):
    # Celery gives CELERY_BROKER_URL precedence over conf.broker_url, and the
    # app reads REVRX_KEY_PREFIX at import: set both before importing it.
    os.environ["CELERY_BROKER_URL"] = broker
    if key_prefix:
        os.environ["REVRX_KEY_PREFIX"] = key_prefix
    sys.path.insert(0, os.path.join(HERE, "app"))
    import tasks  # noqa: E402  (also imports publish_stamp: the hook is active)
    return tasks


def main(argv=None):
    args = parse_args(argv)
    tasks = load_app(args.broker, args.key_prefix)
    if args.trace:
        plan = parse_trace(args.trace)
    else:
        plan = [(0.0, args.burst, args.seconds)]
    dur_div = 1.0 if args.keep_durations else args.speed

    print("broker %s, queues %s%s, speed %g, %d batches" % (
        redact(args.broker), ",".join(args.queues),
        "" if args.priority is None else ", priority %d" % args.priority,
        args.speed, len(plan)), flush=True)

    opts = {} if args.priority is None else {"priority": args.priority}
    kwargs = {} if args.tag is None else {"tag": args.tag}
    total = 0
    task_seconds = 0.0
    rr = 0
    start = time.monotonic()
    try:
        with tasks.app.producer_or_acquire() as producer:
            # Connect before the clock starts, so batch 0 goes out at t=0.
            producer.connection.ensure_connection(max_retries=3)
            start = time.monotonic()
            for at, count, secs in plan:
                due = start + at / args.speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                secs = secs / dur_div
                per_queue = {}
                for _ in range(count):
                    q = args.queues[rr % len(args.queues)]
                    rr += 1
                    tasks.sleep.apply_async(args=[secs], kwargs=kwargs, queue=q,
                                            producer=producer, **opts)
                    per_queue[q] = per_queue.get(q, 0) + 1
                total += count
                task_seconds += count * secs
                where = ",".join(per_queue) if per_queue else ",".join(args.queues)
                if len(per_queue) > 1:
                    where = " ".join("%s(%d)" % kv for kv in per_queue.items())
                print("t=%.1fs published %d x %gs to %s" % (
                    time.monotonic() - start, count, secs, where), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        print("total: published %d tasks (%.1f task-seconds) in %.1fs" % (
            total, task_seconds, time.monotonic() - start), flush=True)
        return 130
    except Exception as exc:  # connection errors etc.: never show the password
        print("producer: error: %s: %s" % (type(exc).__name__, redact(exc)), file=sys.stderr)
        print("total: published %d tasks (%.1f task-seconds) in %.1fs" % (
            total, task_seconds, time.monotonic() - start), flush=True)
        return 1
    print("total: published %d tasks (%.1f task-seconds) in %.1fs" % (
        total, task_seconds, time.monotonic() - start), flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    sys.exit(main())

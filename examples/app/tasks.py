"""Sample Celery app for revrx-supervise examples, tests and benchmarks.

Run a worker (cwd = this directory):

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 REVRX_RECORD=/tmp/run.jsonl \
        /usr/bin/python3 -m celery -A tasks worker -E -c 2 -Q reports -n w1@%h

Environment:
    CELERY_BROKER_URL   broker URL; Celery reads it itself (never hard-coded).
    REVRX_KEY_PREFIX    kombu Redis ``global_keyprefix`` (e.g. "pfx:"), if set.
    REVRX_RECORD        file to which every task appends a JSON line at start
                        and at end (see ``_record``); unset = no record.
    REVRX_VISIBILITY_TIMEOUT  kombu's visibility_timeout in seconds, if set
                        (tests of kombu's own restore after a host's death).
    REVRX_ACKS_LATE     "1" to set task_acks_late=True (the setting the
                        reference figures in traces/README.md used); default
                        is Celery's own default (early ack).
    REVRX_REJECT_ON_WORKER_LOST  "1" to set task_reject_on_worker_lost=True:
                        with late acks, a task whose pool process died is
                        requeued instead of failed.

Tasks: ``tasks.sleep(seconds, tag=None)`` and ``tasks.fail(msg)``.
"""
import json
import os
import socket
import time

from celery import Celery, Task

import publish_stamp  # noqa: F401  (connects the before_task_publish stamp)

app = Celery("tasks")

_transport_options = {}
if os.environ.get("REVRX_KEY_PREFIX"):
    _transport_options["global_keyprefix"] = os.environ["REVRX_KEY_PREFIX"]
if os.environ.get("REVRX_VISIBILITY_TIMEOUT"):
    _transport_options["visibility_timeout"] = float(os.environ["REVRX_VISIBILITY_TIMEOUT"])

app.conf.update(
    worker_prefetch_multiplier=1,
    task_acks_late=os.environ.get("REVRX_ACKS_LATE", "") in ("1", "true", "yes"),
    task_reject_on_worker_lost=os.environ.get("REVRX_REJECT_ON_WORKER_LOST", "") in ("1", "true", "yes"),
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,  # no result backend needed
    # Producers send task-sent events: the supervisor's queue-wait histogram
    # (revrx_queue_wait_seconds) measures publish -> start from them.
    task_send_sent_event=True,
    broker_transport_options=_transport_options,
)


def _record(event, request, name, started, finished=None, ok=None):
    """Append one JSON line to $REVRX_RECORD with a single os.write(O_APPEND).

    One write(2) of one short line on an O_APPEND fd: lines from concurrent
    pool processes and workers never interleave, so the file is a faithful
    log for exactly-once checks (summarize.py).
    """
    path = os.environ.get("REVRX_RECORD")
    if not path:
        return
    line = json.dumps({
        "event": event,
        "id": request.id,
        "name": name,
        "worker": request.hostname or socket.gethostname(),
        "queue": (getattr(request, "delivery_info", None) or {}).get("routing_key"),
        "pid": os.getpid(),
        "published_at": getattr(request, "published_at", None),
        "started": started,
        "finished": finished,
        "ok": ok,
    }, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class RecordedTask(Task):
    """Base task: records "start" before the body and "end" after it."""

    def __call__(self, *args, **kwargs):
        req = self.request
        started = time.time()
        _record("start", req, self.name, started)
        ok = False
        try:
            result = super().__call__(*args, **kwargs)
            ok = True
            return result
        finally:
            _record("end", req, self.name, started, time.time(), ok)


@app.task(base=RecordedTask, bind=True, name="tasks.sleep")
def sleep(self, seconds, tag=None):
    """Sleep ``seconds`` (float) and return them (and the tag, if any)."""
    time.sleep(float(seconds))
    return {"slept": float(seconds), "tag": tag}


@app.task(base=RecordedTask, bind=True, name="tasks.fail")
def fail(self, msg):
    """Raise RuntimeError(msg): a task that always fails."""
    raise RuntimeError(msg)

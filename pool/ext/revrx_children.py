"""What each prefork pool child is doing, as the worker main's event loop
sees it.

Everything here runs on the worker main's single-threaded event loop, where
the pool's own bookkeeping (celery.concurrency.asynpool.AsynPool on billiard's
Pool) is consistent between two callbacks. A child is *provably idle* when:

  - it has sent its WORKER_UP message and the main has read it (it is no
    longer waiting to start);
  - no job is scheduled for it, being written to it, or accepted by it
    (job._scheduled_for, job._write_to, job worker_pids());
  - its input fd is neither marked busy (fair scheduling) nor being written;
  - nothing it sent is still unread in its output pipe (an ACK for a job the
    main has not seen yet, a result).

Only such a child may be stopped: it cannot lose a task. billiard's own
Pool.shrink looks at accepted jobs only, which is how Celery's autoscaler
kills children that already took a job (celery#7266).
"""
import select
import time

STARTING, IDLE, BUSY, STOPPING = "starting", "idle", "busy", "stopping"
RETIRING = "retiring"  # busy, no new job is written to it; stopped once idle (revrx_retire)


def jobs_by_child(pool):
    """Map each child pid to the (job, accepted) pairs that involve it."""
    out = {}
    for job in list(pool._cache.values()):
        if job.ready():
            continue
        pids = set(job.worker_pids())
        for attr in ("_write_to", "_scheduled_for"):
            proc = getattr(job, attr, None)
            if proc is not None and proc.pid:
                pids.add(proc.pid)
        for pid in pids:
            out.setdefault(pid, []).append(job)
    return out


def unread_output(proc):
    """True if the child has written something the main has not read."""
    try:
        fd = proc.outqR_fd
        if fd is None:
            return False
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True  # cannot tell: not provably idle


def is_busy(pool, proc, jobs):
    """True unless proc is provably idle (see the module doc)."""
    if proc in pool._waiting_to_start or jobs.get(proc.pid):
        return True
    fd = proc.inqW_fd
    if fd in pool._busy_workers or fd in pool._active_writes:
        return True
    return unread_output(proc)


class Children:
    """Tracks each child's phase and since when, and the task it runs."""

    def __init__(self):
        self.since = {}  # pid -> (phase, since)
        self.stopping = set()  # pids asked to stop, until they are gone
        self.retiring = set()  # pids that take no new job, stopped once idle

    def snapshot(self, pool, requests, jobs):
        """The children as a list of dicts for the supervisor.

        requests maps a task id to its celery Request (the active ones);
        jobs is jobs_by_child(pool)."""
        now, seen, out = time.time(), set(), []
        for proc in list(pool._pool):
            pid = proc.pid
            if not pid:
                continue
            seen.add(pid)
            phase, task = self.phase(pool, proc, jobs), None
            if phase in (BUSY, RETIRING):
                task = running_task(jobs.get(pid), requests)
            prev = self.since.get(pid)
            if prev is None or prev[0] != phase:
                self.since[pid] = prev = (phase, now)
            child = {"pid": pid, "index": getattr(proc, "index", 0), "phase": phase, "since": prev[1]}
            if task:
                child["task_id"], child["task"] = task
            out.append(child)
        for pid in list(self.since):
            if pid not in seen:
                del self.since[pid]
        self.stopping &= seen
        self.retiring &= seen
        return out

    def phase(self, pool, proc, jobs):
        if proc.pid in self.stopping:
            return STOPPING
        if proc.pid in self.retiring:
            return RETIRING
        if proc in pool._waiting_to_start:
            return STARTING
        return BUSY if is_busy(pool, proc, jobs) else IDLE


def unassigned(reserved_requests, jobs):
    """How many reserved requests no child has yet: a job scheduled for,
    written to or accepted by a child makes that child busy, so counting
    it as reserved too would count one task twice in the demand."""
    assigned = {job.correlation_id for held in jobs.values() for job in held}
    return sum(1 for req in list(reserved_requests) if req.id not in assigned)


def running_task(jobs, requests):
    """(task id, task name) of the first of jobs celery knows, or None."""
    for job in jobs or ():
        req = requests.get(job.correlation_id)
        if req is not None:
            return job.correlation_id, req.name
        return job.correlation_id, ""
    return None

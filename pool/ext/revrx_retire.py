"""Retire busy children: no new job, stopped once their current one ends.

A queue group that holds every process of its share busy with a deep
backlog never has an idle process to give back (its main keeps a prefetch
reserve, so a child that finishes a task takes the next one at once). A
*retiring* child leaves the set of input fds the pool writes jobs to
(AsynPool._all_inqueues) and the fair-scheduling busy set, so its current
job runs to its end untouched and nothing new is ever written to it; the
pool's target count is not lowered and nothing is signalled yet. At every
state check (the 0.5 s push timer, after each message a child sends the
main, after each request) a retiring child that has become provably idle
(revrx_children.is_busy false) is stopped exactly as shrink stops one
(Sizing.stop_child). The reserved jobs go to the other children: the
prefetch counts only the children that are not retiring.

Which children: the busy ones whose current job was accepted most recently
(a job written but not yet accepted first of all, then the highest index).
Runtimes within one queue are rarely alike: a job that has already run long
is the sign of a long one, and the time left of a long-tailed runtime grows
with its age, so retiring the oldest would pin the slot on the longest task
(and a long task keeps its process "busy"). The cost, with runtimes all
alike, is that the slot frees up to one runtime later than the oldest would.

Taken back (reclaim): the fd goes back into the input set (and the busy
set if a job still runs), so the supervisor's policy, which takes draining
workers back before it starts new ones, gets a live process at once. A
grow request forks new children only; retiring ones count against MAX as
any alive child does. A retiring child that dies is just gone: the target
goes down with it, so billiard does not fork a replacement.
"""
from revrx_children import is_busy, jobs_by_child


class Retiring:
    """The retiring children of one pool, beside its Sizing."""

    def __init__(self, sizing, children):
        self.sizing = sizing
        self.children = children  # children.retiring: the pids retiring

    @property
    def pool(self):
        return self.sizing.pool

    def retire(self, n):
        """Mark up to n busy children retiring; return their pids."""
        pool = self.pool
        jobs = jobs_by_child(pool)
        skip = self.children.stopping | self.children.retiring
        busy = [p for p in list(pool._pool) if p.pid and p.pid not in skip
                and p not in pool._waiting_to_start and is_busy(pool, p, jobs)]
        busy.sort(key=lambda p: (-accepted_at(jobs.get(p.pid)), -getattr(p, "index", 0)))
        out = []
        for proc in busy[:max(int(n), 0)]:
            fd = proc.inqW_fd
            pool._all_inqueues.discard(fd)  # nothing new is written to it
            pool._busy_workers.discard(fd)  # fair scheduling counts the others only
            self.children.retiring.add(proc.pid)
            out.append(proc.pid)
        if out:
            self.sizing.sync_prefetch()
            self.settle()
        return out

    def reclaim(self, pids):
        """Take the named retiring children back; return those taken."""
        pool = self.pool
        jobs = jobs_by_child(pool)
        procs = {p.pid: p for p in list(pool._pool)}
        out = []
        for pid in (int(p) for p in pids or ()):
            proc = procs.get(pid)
            if pid not in self.children.retiring or proc is None or not proc._is_alive():
                continue
            self.children.retiring.discard(pid)
            fd = proc.inqW_fd
            if pool._fileno_to_inq.get(fd) is proc:
                if jobs.get(pid):
                    pool._busy_workers.add(fd)  # its job runs: fair scheduling waits for it
                pool._all_inqueues.add(fd)
            out.append(pid)
        if out:
            self.sizing.sync_prefetch()
        return out

    def settle(self):
        """Stop every retiring child that has become provably idle; forget
        the ones that are gone. Returns the pids stopped."""
        if not self.children.retiring:
            return []
        pool = self.pool
        jobs = jobs_by_child(pool)
        procs = {p.pid: p for p in list(pool._pool)}
        stopped = []
        for pid in list(self.children.retiring):
            proc = procs.get(pid)
            if proc is None:
                self.children.retiring.discard(pid)
            elif not is_busy(pool, proc, jobs):
                self.sizing.stop_child(pool, proc)  # discards it from retiring
                stopped.append(pid)
        if stopped:
            self.sizing.sync_prefetch()
        return stopped

    def on_exit(self, proc):
        """A child's exit was seen (before billiard maintains the pool): a
        retiring one is just gone, so the target goes down with it."""
        if proc.pid not in self.children.retiring:
            return
        self.children.retiring.discard(proc.pid)
        self.children.stopping.add(proc.pid)
        pool = self.pool
        pool._processes -= 1
        if pool._putlock is not None:
            pool._putlock.shrink()
        self.sizing.sync_prefetch()


def accepted_at(jobs):
    """When the child accepted its current job (inf if not yet)."""
    times = [getattr(j, "_time_accepted", None) for j in jobs or ()]
    times = [t for t in times if isinstance(t, (int, float))]
    return min(times) if times else float("inf")


def watch_exits(pool, retiring):
    """Call retiring.on_exit(proc) when a child's exit is seen, before the
    pool replaces it (AsynPool._event_process_exit, looked up each time a
    child is tracked)."""
    exited = pool._event_process_exit

    def on_exit(hub, proc):
        try:
            retiring.on_exit(proc)
        finally:
            exited(hub, proc)

    pool._event_process_exit = on_exit

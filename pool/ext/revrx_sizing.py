"""Grow and shrink a worker main's prefork pool from its event loop.

grow forks at once (billiard only forks on its 5 s maintenance timer
otherwise), from a frozen heap: gc.collect() then gc.freeze() in the main
first, so the children do not copy the main's objects when their own
collector walks them (CELERY.md section 9: 7.3 MB per child instead of 18.6).
shrink stops only children that are provably idle (revrx_children) and keeps
the pool's target count and the prefetch count right however many it could
stop. The prefetch count is processes x multiplier, adjusted by differences
so that Celery's own increments (ETA tasks) are kept.
"""
import gc

from revrx_children import is_busy, jobs_by_child


class Sizing:
    """The pool's target size and the consumer's prefetch, kept together."""

    def __init__(self, consumer, multiplier, children, limit):
        self.c = consumer
        self.multiplier = max(int(multiplier or 1), 1)
        self.limit = limit  # processes alive at most, stopping ones included
        self.children = children
        self.applied = None  # the prefetch we last set, to apply differences
        self.gate = None  # RabbitMQ: revrx_amqp.Gate (the Redis gate needs no call)

    @property
    def pool(self):
        return self.c.pool._pool  # the AsynPool inside celery's TaskPool

    def size(self):
        """The pool's target process count."""
        return self.pool._processes

    def active(self):
        """The target count less the retiring children (revrx_retire):
        the children new jobs can go to."""
        return self.size() - len(self.children.retiring)

    def sync_prefetch(self):
        """Set the consumer's prefetch to active() x multiplier (1 at 0:
        kombu reads 0 as unlimited; the intake gate holds size 0). With a
        gate, its consumers stop before the count drops at 0 and start once
        it is set when there is an active process again."""
        active = self.active()
        if self.gate is not None and active == 0:
            self.gate.close()
        self.set_prefetch(max(active * self.multiplier, 1))
        if self.gate is not None and active > 0:
            self.gate.open()

    def set_prefetch(self, want):
        """Make the consumer's prefetch count want: at once on a new QoS,
        else by the difference, applied on the loop's next turn."""
        self.c.initial_prefetch_count = want
        qos = getattr(self.c, "qos", None)
        if qos is None:
            return
        if self.applied is None:  # a new QoS: Celery set it from --concurrency
            with qos._mutex:
                qos.value = want
            qos.update()
        elif want > self.applied:
            qos.increment_eventually(want - self.applied)
        elif want < self.applied:
            qos.decrement_eventually(self.applied - want)
        self.applied = want

    def reset_prefetch(self):
        """Forget the applied prefetch (the consumer made a new QoS)."""
        self.applied = None

    def grow(self, n):
        """Fork up to n children now (never past the limit of processes
        alive, stopping ones included); return their pids."""
        pool = self.pool
        if self.limit:
            n = min(n, self.limit - len(pool._pool))
        if n <= 0:
            return []
        before = {p.pid for p in pool._pool}
        gc.collect()
        gc.freeze()
        pool.grow(n)
        pool.maintain_pool()
        self.sync_prefetch()
        return [p.pid for p in pool._pool if p.pid not in before]

    def shrink(self, pids=None, n=0):
        """Stop the named children (or any n) that are provably idle.

        Returns (stopped, refused): refused are the named pids that were
        busy, starting or unknown. A stopped child leaves the pool's input
        set at once, so no job can be written to it before it exits."""
        pool = self.pool
        jobs = jobs_by_child(pool)
        procs = {p.pid: p for p in pool._pool if p.pid not in self.children.stopping}
        wanted = [int(p) for p in pids] if pids else list(procs)
        limit = len(wanted) if pids else max(int(n), 0)
        stopped, refused = [], []
        for pid in wanted:
            proc = procs.get(pid)
            if len(stopped) >= limit:
                break
            if proc is None or is_busy(pool, proc, jobs):
                refused.append(pid)
                continue
            self.stop_child(pool, proc)
            stopped.append(pid)
        if stopped:
            self.sync_prefetch()
        return stopped, refused if pids else []

    def stop_child(self, pool, proc):
        """Take proc out of the pool's inputs, lower the target, SIGTERM it."""
        fd = proc.inqW_fd
        close = getattr(pool, "on_inqueue_close", None)
        if close is not None:
            close(fd, proc)
        else:
            pool._all_inqueues.discard(fd)
        pool._processes -= 1
        if pool._putlock is not None:
            pool._putlock.shrink()
        proc.terminate_controlled()  # marks it, then SIGTERM (children reset it)
        self.children.retiring.discard(proc.pid)
        self.children.stopping.add(proc.pid)
        pool.on_shrink(1)


"""Which idle process the worker main hands the next task to.

Celery's prefork pool writes a job to the first ready process of the list
its event loop hands it (celery.concurrency.asynpool schedule_writes), in
whatever order the poller reports them, so a steady trickle rotates over
every process and none stays idle long enough for its keepalive: a pool
sized for a peak stays at the peak. Here the ready processes are ordered by
their pool index, lowest first, so tasks pack onto the fewest processes and
the surplus ones stay idle and are stopped after their keepalive. New
processes take the lowest free index (billiard reuses them), so the pool
shrinks from the top.
"""


def pack_dispatch(hub, pool):
    """Wrap hub.consolidate_callback (set again by the pool each time the
    event loop starts) so ready processes are tried lowest index first.
    Returns False if the pool did not set one."""
    schedule = getattr(hub, "consolidate_callback", None)
    if schedule is None or getattr(schedule, "_revrx_packed", False):
        return schedule is not None

    def packed(ready_fds, *args, **kwargs):
        procs = pool._fileno_to_inq
        ready = sorted(ready_fds, key=lambda fd: getattr(procs.get(fd), "index", 1 << 30))
        return schedule(ready, *args, **kwargs)

    packed._revrx_packed = True
    hub.consolidate_callback = packed
    return True

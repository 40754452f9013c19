"""The pool engine's extension inside a Celery worker main.

install(app, fd, settings) is called by the app host in a forked worker main
before Celery starts it. It adds one consumer bootstep (Step) and patches
kombu's Redis transport for this process (revrx_intake); on RabbitMQ the
step gates and guards each new task consumer instead (revrx_amqp). The step:

  - checks the live pool and consumer (revrx_gate) and says hello;
  - serves the supervisor's control socket from the worker's own event loop
    (and, while the broker connection is being retried and the loop is not
    running, from Celery's retry callback, about once a second), so sizing
    never goes through the broker;
  - pushes the children's state when it changes (revrx_children);
  - packs tasks onto the lowest-index idle processes (revrx_dispatch), so
    a surplus process stays idle and reaches its keepalive;
  - reports a child that died with a job, and quarantines a message that
    killed two children instead of letting Celery requeue it again.

Requests (supervisor -> worker), each with an "id" echoed in the reply:
    {"op": "grow", "n": N}          -> {"type": "reply", "pids": [...]}
    {"op": "shrink", "pids": [..]}  -> {"type": "reply", "stopped": [...], "refused": [...]}
    {"op": "shrink", "n": N}        -> the same, any provably idle children
    {"op": "retire", "n": N}        -> {"type": "reply", "retired": [...]}: up to N busy
                                       children take no new job and stop once idle
    {"op": "reclaim", "pids": [..]} -> {"type": "reply", "reclaimed": [...]}: retiring
                                       children taken back
Every reply follows a state push. Pushed (worker -> supervisor):
    {"type": "hello", "pid", "ok", "why"}
    {"type": "state", "processes", "children": [...], "reserved", "running", "prefetch"}
    {"type": "lost", "pid", "exitcode", "task_id", "task", "deaths"}
    {"type": "quarantined", "queue", "reason", "task_id", "task"}
"""
import json
import logging
import os

from revrx_amqp import Gate, Intake, is_amqp
from revrx_children import Children, jobs_by_child, unassigned
from revrx_dispatch import pack_dispatch
from revrx_gate import live_check
from revrx_held import TAKE_FIELD
from revrx_intake import QUARANTINE_SUFFIX, install_gate, install_quarantine
from revrx_mover import Mover, queue_of
from revrx_retire import Retiring, watch_exits
from revrx_sizing import Sizing
from revrx_wire import Wire

PUSH_INTERVAL = 0.5  # s between change checks (changes the pool reports push at once)
DEATH_MEMORY = 10000  # task ids whose child deaths are remembered
QUARANTINE_AT = 2  # child deaths that quarantine a message

logger = logging.getLogger("revrx.pool")


class Extension:
    """The worker main's side of the pool engine (one per process)."""

    def __init__(self, wire, settings):
        self.wire = wire
        self.multiplier = int(settings.get("multiplier") or 1)
        self.limit = int(settings.get("max") or 0)
        self.c = self.sizing = self.retiring = None
        self.gate = self.intake = None  # RabbitMQ only (revrx_amqp)
        self.mover = Mover()
        self.children = Children()
        self.disabled = ""
        self.last = None  # the last state pushed
        self.timer = None
        self.deaths = {}
        self.soon_pending = False

    # --- wiring -----------------------------------------------------------

    def attach(self, c):
        """At every consumer (re)start: check, gate the new channel, prefetch."""
        if self.c is None:
            self.disabled = live_check(c)
            self.c = c
            if not self.disabled:
                self.sizing = Sizing(c, self.multiplier, self.children, self.limit)
                self.retiring = Retiring(self.sizing, self.children)
                watch_exits(c.pool._pool, self.retiring)
                self.watch_losses(c.pool._pool)
                self.watch_changes(c.pool._pool)
            self.wire.send({"type": "hello", "pid": os.getpid(), "ok": not self.disabled,
                            "why": self.disabled})
        if self.disabled:
            return
        channel = getattr(getattr(c, "task_consumer", None), "channel", None)
        if is_amqp(channel):
            self.attach_amqp(c)
        elif channel is not None and not install_gate(channel, lambda: self.sizing.active() > 0):
            logger.warning("revrx: the task channel is neither kombu's Redis one nor py-amqp's; size 0 is not held")
        self.sizing.reset_prefetch()
        self.sizing.sync_prefetch()

    def attach_amqp(self, c):
        """RabbitMQ: gate the new task consumer (size 0 holds nothing) and
        quarantine what Celery would drop (revrx_amqp)."""
        if self.gate is None:
            self.gate = self.sizing.gate = Gate(c, lambda: self.sizing.active() > 0)
            self.intake = Intake(c, self.mover, self.wire.send, self.default_queue())
        self.gate.install()
        self.intake.install()

    def register(self, hub):
        """At every event-loop start: the hub drops its readers when the
        loop exits, and the consumer clears the timer when it restarts
        (a broker reconnect), so both are set again each time."""
        hub.add_reader(self.wire.fileno(), self.serve)
        if self.sizing is not None and not pack_dispatch(hub, self.sizing.pool):
            logger.warning("revrx: the pool set no write scheduler; tasks are not packed onto the fewest processes")
        if self.timer is not None:
            self.timer.cancel()
        self.timer = hub.call_repeatedly(PUSH_INTERVAL, self.push)
        hub.call_soon(self.push)
        c = self.c
        if c is not None and getattr(c, "on_task_message", None) is not None:
            c.on_task_message.add(self.on_task_message)

    def on_task_message(self, *args):
        self.push_soon()

    def watch_changes(self, pool):
        """Push soon after every message a child sends the main (up, job
        accepted, job done): the supervisor learns of a change at once."""
        handlers = pool._result_handler.state_handlers

        def wrap(handle):
            def handled(*args):
                try:
                    return handle(*args)
                finally:
                    self.push_soon()
            return handled

        for state, handle in list(handlers.items()):
            handlers[state] = wrap(handle)

    def push_soon(self):
        """One push on the loop's next turn, however many changes came."""
        if self.soon_pending or self.c is None or self.c.hub is None:
            return
        self.soon_pending = True

        def flush():
            self.soon_pending = False
            self.push()

        self.c.hub.call_soon(flush)

    # --- requests ---------------------------------------------------------

    def serve(self, *args):
        """Answer every request waiting on the socket."""
        for req in self.wire.receive():
            self.wire.send(self.answer(req))
        if self.wire.closed:
            self.on_supervisor_gone()

    def answer(self, req):
        reply = {"type": "reply", "id": req.get("id", 0)}
        if self.disabled:
            reply["error"] = "pool engine disabled: " + self.disabled
            return reply
        try:
            op = req.get("op")
            if op == "grow":
                reply["pids"] = self.sizing.grow(int(req.get("n", 1)))
            elif op == "shrink":
                reply["stopped"], reply["refused"] = self.sizing.shrink(req.get("pids"), int(req.get("n", 0)))
            elif op == "retire":
                reply["retired"] = self.retiring.retire(int(req.get("n", 1)))
            elif op == "reclaim":
                reply["reclaimed"] = self.retiring.reclaim(req.get("pids"))
            else:
                reply["error"] = "unknown op %r" % (op,)
        except Exception as exc:  # noqa: B902 - the loop must outlive a bad request
            logger.exception("revrx: request %r failed", req.get("op"))
            reply["error"] = "%s: %s" % (type(exc).__name__, exc)
        self.push(force=True)
        return reply

    def on_supervisor_gone(self):
        """The supervisor closed the socket: it is gone; so should we be."""
        if self.c is not None and self.c.hub is not None:
            try:
                self.c.hub.remove(self.wire.fileno())
            except (OSError, ValueError):
                pass
        logger.error("revrx: the supervisor closed the control socket; stopping")
        os.kill(os.getpid(), 15)

    # --- state ------------------------------------------------------------

    def push(self, force=False):
        """Send the state if it changed since the last push (or if forced)."""
        if self.disabled or self.sizing is None or self.wire.closed:
            return
        from celery.worker.state import active_requests, reserved_requests
        self.retiring.settle()  # a retiring child that became idle stops now
        pool = self.sizing.pool
        requests = {r.id: r for r in list(active_requests)}
        running = len(requests)
        jobs = jobs_by_child(pool)
        state = {"type": "state", "processes": pool._processes,
                 "children": self.children.snapshot(pool, requests, jobs),
                 "reserved": unassigned(reserved_requests, jobs), "running": running,
                 "prefetch": getattr(self.c.qos, "value", 0) if self.c.qos else 0}
        key = json.dumps([state["processes"], [(ch["pid"], ch["phase"], ch.get("task_id")) for ch in state["children"]],
                          state["reserved"], state["running"], state["prefetch"]])
        if force or key != self.last:
            self.last = key
            self.wire.send(state)

    # --- losses -----------------------------------------------------------

    def watch_losses(self, pool):
        """Hear, on pool, every job whose child died under it."""
        lost = pool.on_job_process_lost

        def on_job_process_lost(job, pid, exitcode):
            try:
                self.report_loss(job, pid, exitcode)
            except Exception:  # noqa: B902 - never in Celery's way
                logger.exception("revrx: reporting a lost child failed")
            return lost(job, pid, exitcode)

        pool.on_job_process_lost = on_job_process_lost

    def report_loss(self, job, pid, exitcode):
        from celery.worker.state import active_requests
        task_id = job.correlation_id
        req = next((r for r in list(active_requests) if r.id == task_id), None)
        deaths = self.deaths.pop(task_id, 0) + 1
        self.deaths[task_id] = deaths
        while len(self.deaths) > DEATH_MEMORY:
            self.deaths.pop(next(iter(self.deaths)))
        msg = {"type": "lost", "pid": pid, "exitcode": exitcode, "task_id": task_id,
               "task": getattr(req, "name", ""), "deaths": deaths}
        if deaths >= QUARANTINE_AT and req is not None and not req.acknowledged:
            msg["quarantined"] = self.quarantine_request(req)
        self.wire.send(msg)

    def quarantine_request(self, req):
        """Move req's message to its queue's quarantine list (queue on
        RabbitMQ), then ack it, so Celery's later reject does not requeue
        it. Returns the list's name."""
        message = req.message
        if is_amqp(message.channel):
            return self.quarantine_amqp(req)
        payload = dict(message._raw)
        props = dict(payload.get("properties") or {})
        props.pop(TAKE_FIELD, None)
        payload["properties"] = props
        queue = (req.delivery_info or {}).get("routing_key") or self.default_queue()
        with message.channel.conn_or_acquire() as client:
            client.lpush(queue + QUARANTINE_SUFFIX, json.dumps(payload))
        req.acknowledge()
        logger.error("revrx: quarantined task %s (%s): it killed %d pool processes", req.id, req.name, QUARANTINE_AT)
        return queue + QUARANTINE_SUFFIX

    def quarantine_amqp(self, req):
        """quarantine_request on RabbitMQ: a confirmed copy in the queue's
        quarantine (revrx_mover), then the ack. Returns "" and leaves the
        message to Celery if the broker did not take the copy."""
        queue = queue_of(self.c.task_consumer, req.message, self.default_queue())
        try:
            name = self.mover.move(req.message, queue)
        except Exception:  # noqa: B902 - Celery requeues it then
            logger.exception("revrx: could not quarantine task %s (%s)", req.id, req.name)
            return ""
        req.acknowledge()
        logger.error("revrx: quarantined task %s (%s): it killed %d pool processes", req.id, req.name, QUARANTINE_AT)
        return name

    def default_queue(self):
        return self.c.app.conf.task_default_queue or "celery"

    def serve_outside_loop(self):
        """Serve requests while the loop is down (broker reconnecting)."""
        if self.c is not None:
            self.serve()


def make_steps(ext):
    """The worker and consumer bootstep classes bound to ext."""
    from celery import bootsteps

    class EmptyStart(bootsteps.Step):
        """Start the prefork pool with no process: the extension forks the
        first ones from a frozen heap once the event loop runs (Celery reads
        --concurrency 0 as the CPU count)."""
        name = "revrx-supervise empty pool start"
        requires = ("celery.worker.components:Pool",)

        def __init__(self, w, **kwargs):
            w.min_concurrency = 0
            super().__init__(w, **kwargs)

    class Step(bootsteps.StartStopStep):
        """revrx-supervise: size the prefork pool from inside the worker."""
        name = "revrx-supervise pool engine"
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def start(self, c):
            ext.attach(c)

        def register_with_event_loop(self, c, hub):
            ext.register(hub)

    return EmptyStart, Step


def install(app, fd, settings):
    """Install the extension into this (forked) worker main."""
    wire = Wire(fd)
    os.register_at_fork(after_in_child=wire.close_in_child)
    ext = Extension(wire, settings)  # the app host checked the gate (revrx_gate.static_check)
    empty_start, step = make_steps(ext)
    app.steps["worker"].add(empty_start)
    app.steps["consumer"].add(step)
    install_quarantine(ext.wire.send)
    from celery.worker.consumer import consumer as consumer_module
    wait = consumer_module.maybe_shutdown

    def maybe_shutdown():
        ext.serve_outside_loop()
        return wait()

    consumer_module.maybe_shutdown = maybe_shutdown
    return ext

"""What the worker main takes from RabbitMQ, and what it does with bad input:
revrx_intake's counterpart for kombu's pyamqp transport.

gate: with no active pool process the main must hold nothing. RabbitMQ
has no client-side can_consume to patch: with prefetch 1 (Sizing's count at
size 0) the broker would deliver one message, which the main would hold
away from every other host. So while Sizing.active() is 0 the task
consumer consumes nothing: its consumers are cancelled (basic.cancel,
before the prefetch count is lowered) when the count drops to 0, and
started again (after the prefetch count is set) when it rises; Celery's own
consume() calls (the event loop's start, remote-control add_consumer) do
nothing meanwhile. kombu's consume() starts a consumer only for the queues
of the task consumer's list that have none, so a queue Celery's
remote-control cancel_consumer removed stays cancelled.

per-consumer QoS: where the prefetch count applies per consumer, a new
basic.qos reaches only consumers started after it; a running one keeps its
count. That is so when Celery asks for it (Celery 5.5 with a quorum queue:
its QoS callback has apply_global=False) and on RabbitMQ 4.3 and later,
which denies its deprecated global_qos feature by default and turns a
global basic.qos into a per-consumer one. There the gate restarts the
consumers (cancel, then consume) whenever the count changed since they
started, so the count follows the pool. The messages the old consumers
were given stay unacked on the channel and run as usual; until they are
acked they are not counted against the new consumers' limit, so for a
moment the main may hold up to the old count more.

intake: Celery 5.2 on RabbitMQ drops what it cannot use, and dies of one
kind: a body that is not JSON or not UTF-8 (Consumer.on_decode_error acks
it), a message that is not a task (on_unknown_message rejects it, and a
classic queue without a dead-letter exchange discards it), a content type
it does not accept or an invalid task (on_invalid_task rejects it), and a
task body Request() cannot unpack (raised out of the event loop:
"Unrecoverable error"; the broker requeues it and the next main dies of it
too). Here each is copied as it came to QUEUE.quarantine (revrx_mover),
then acked, reported and logged, and the worker carries on. If the broker
does not take the copy, Celery's own handling follows. A task name the
worker does not know is left to Celery (it rejects it and records the
failure), as on Redis.
"""
import logging

from revrx_intake import reported
from revrx_mover import keep_raw, queue_of, size_of

ORIGINAL_CONSUME = "_revrx_consume"  # the task consumer's own consume()
HANDLERS_FIELD = "_revrx_amqp_intake"

logger = logging.getLogger("revrx.intake")


class NotATask(ValueError):
    """A message with no task name (Celery's on_unknown_message)."""


def is_amqp(channel):
    """Whether channel is a py-amqp one (kombu's pyamqp transport)."""
    try:
        import amqp
    except ImportError:
        return False
    return isinstance(channel, amqp.Channel)


class Gate:
    """The task consumer of consumer (Celery's) consumes only while
    has_processes() (see the module doc)."""

    def __init__(self, consumer, has_processes):
        self.c = consumer  # its task_consumer is a new one at each restart
        self.has_processes = has_processes
        self.started_with = None  # the count the consumers started with (per-consumer QoS)

    def install(self):
        """Gate the current task consumer's consume() (idempotent)."""
        tc = self.c.task_consumer
        if tc is None or ORIGINAL_CONSUME in vars(tc):
            return
        consume = tc.consume

        def gated(*args, **kwargs):
            if not self.has_processes():
                return None
            result = consume(*args, **kwargs)
            qos = self.c.qos
            self.started_with = qos.value if qos is not None else None
            return result

        vars(tc)[ORIGINAL_CONSUME] = consume
        tc.consume = gated
        self.started_with = None  # a new task consumer: gated() records what it starts with

    def live(self):
        """The task consumer if it is gated and consuming is possible now:
        Celery's loop set its message handler, its channel is open."""
        tc = self.c.task_consumer
        if tc is None or ORIGINAL_CONSUME not in vars(tc) or tc.on_message is None:
            return None
        channel = tc.channel
        if not getattr(channel, "is_open", False) or channel.connection is None:
            return None
        return tc

    def open(self):
        """Apply the prefetch count now, then consume from every queue of
        the list that has no consumer; with per-consumer QoS, restart the
        consumers too if the count changed since they started. Nothing
        before the loop runs (its start consumes) or while the connection
        is down (the next start)."""
        tc = self.live()
        if tc is None:
            return
        qos = self.c.qos
        try:
            stale = qos is not None and qos.value != self.started_with and self.per_consumer(tc)
            if not stale and all(name in tc._active_tags for name in list(tc._queues)):
                return
            if qos is not None:
                qos.update()
            if stale and tc._active_tags:
                tc.cancel()
            tc.consume()
            self.started_with = qos.value if qos is not None else None
        except Exception:  # noqa: B902 - Celery sees a lost connection on its next read
            logger.warning("revrx: could not start consuming", exc_info=True)

    def per_consumer(self, tc):
        """Whether the prefetch count applies per consumer (module doc), from
        Celery's QoS callback and the live task channel's connection (never
        kombu's Connection.connection, which would reconnect)."""
        if applies_global(getattr(self.c.qos, "callback", None)) is False:
            return True
        return denies_global_qos(tc.channel.connection)

    def close(self):
        """Cancel every consumer of the task consumer (the deliveries
        already on their way are taken, as kombu's Redis gate reads a BRPOP
        in flight)."""
        tc = self.live()
        if tc is None or not tc._active_tags:
            return
        try:
            tc.cancel()
        except Exception:  # noqa: B902 - as open
            logger.warning("revrx: could not stop consuming", exc_info=True)


def applies_global(callback):
    """The apply_global that Celery's QoS callback passes to basic.qos:
    its qos_global (a closure variable in Celery 5.2 to 5.5's Tasks.start,
    or a partial's keyword); None if it cannot tell."""
    keywords = getattr(callback, "keywords", None)
    if isinstance(keywords, dict) and "apply_global" in keywords:
        return bool(keywords["apply_global"])
    code, cells = getattr(callback, "__code__", None), getattr(callback, "__closure__", None)
    for name, cell in zip(getattr(code, "co_freevars", ()), cells or ()):
        if name == "qos_global":
            try:
                return bool(cell.cell_contents)
            except ValueError:  # an empty cell
                return None
    return None


def denies_global_qos(connection):
    """Whether the py-amqp connection is to RabbitMQ 4.3 or later, which
    denies global QoS by default (its deprecated global_qos feature)."""
    props = getattr(connection, "server_properties", None) or {}
    product, version = props.get("product"), props.get("version")
    if isinstance(product, bytes):
        product = product.decode("utf-8", "replace")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if product != "RabbitMQ" or not isinstance(version, str):
        return False
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (4, 3)


class Intake:
    """Quarantine, on RabbitMQ, what Celery would drop or die of (see the
    module doc); report(dict) hears each message quarantined."""

    def __init__(self, consumer, mover, report, default_queue):
        self.c = consumer
        self.mover = mover
        self.report = report
        self.default_queue = default_queue

    def install(self):
        """Wrap Celery's handlers once, and at every consumer start keep
        the raw deliveries and route kombu's decode errors to the wrapper."""
        c = self.c
        if not getattr(c, HANDLERS_FIELD, False):
            setattr(c, HANDLERS_FIELD, True)
            c.on_decode_error = self.handler(c.on_decode_error, lambda message, exc: (message, exc))
            c.on_unknown_message = self.handler(
                c.on_unknown_message, lambda body, message: (message, NotATask("no task name in its headers or body")))
            c.on_invalid_task = self.handler(c.on_invalid_task, lambda body, message, exc: (message, exc))
            c.create_task_handler = self.guarded_factory(c.create_task_handler)
        tc = c.task_consumer
        if tc is not None:
            tc.on_decode_error = c.on_decode_error  # kombu took Celery's at creation
            keep_raw(tc.channel)

    def handler(self, original, pick):
        """Celery's handler original with the message quarantined instead
        (pick(args) gives the message and why); original if that fails."""
        def handle(*args):
            message, exc = pick(*args)
            self.take(message, exc, lambda: original(*args))
        return handle

    def guarded_factory(self, create):
        """Celery's create_task_handler, whose handler quarantines a message
        it raises on instead of letting the error end the worker."""
        def create_task_handler(*args, **kwargs):
            on_task_received = create(*args, **kwargs)
            errors = tuple(getattr(self.c, "connection_errors", ()) or ()) + \
                tuple(getattr(self.c, "channel_errors", ()) or ())

            def guarded(message):
                try:
                    return on_task_received(message)
                except errors:
                    raise
                except Exception as exc:  # noqa: B902 - any bad input, never the loop
                    if message.acknowledged:
                        raise

                    def fail():
                        raise exc
                    self.take(message, exc, fail)
                    return None
            return guarded
        return create_task_handler

    def take(self, message, exc, otherwise):
        """Move message to its queue's quarantine, ack it, report and log;
        otherwise() if the broker did not take the copy. Within another
        move's wait, on the loop's next turn."""
        if self.mover.busy and self.c.hub is not None:
            self.c.hub.call_soon(self.take, message, exc, otherwise)
            return
        queue = queue_of(self.c.task_consumer, message, self.default_queue)
        try:
            self.mover.move(message, queue)
        except Exception:  # noqa: B902 - Celery's way then
            logger.exception("revrx: could not quarantine a message of %s; Celery handles it", queue)
            otherwise()
            return
        try:
            message.ack()
        except Exception:  # noqa: B902 - the broker redelivers it: a second copy
            logger.exception("revrx: could not ack a message quarantined from %s", queue)
        headers = message.headers if isinstance(message.headers, dict) else {}
        info = {"task_id": str(headers.get("id") or ""), "task": str(headers.get("task") or "")}
        self.report(reported(queue, exc, size_of(message), info))

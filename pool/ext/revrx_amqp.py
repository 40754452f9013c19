"""What the worker main takes from RabbitMQ: revrx_intake's gate for kombu's
pyamqp transport.

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
"""
import logging

ORIGINAL_CONSUME = "_revrx_consume"  # the task consumer's own consume()

logger = logging.getLogger("revrx.intake")


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

    def install(self):
        """Gate the current task consumer's consume() (idempotent)."""
        tc = self.c.task_consumer
        if tc is None or ORIGINAL_CONSUME in vars(tc):
            return
        consume = tc.consume

        def gated(*args, **kwargs):
            if self.has_processes():
                return consume(*args, **kwargs)
            return None

        vars(tc)[ORIGINAL_CONSUME] = consume
        tc.consume = gated

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
        the list that has no consumer. Nothing before the loop runs (its
        start consumes) or while the connection is down (the next start)."""
        tc = self.live()
        if tc is None or all(name in tc._active_tags for name in list(tc._queues)):
            return
        try:
            if self.c.qos is not None:
                self.c.qos.update()
            tc.consume()
        except Exception:  # noqa: B902 - Celery sees a lost connection on its next read
            logger.warning("revrx: could not start consuming", exc_info=True)

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

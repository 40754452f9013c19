"""Move a message to its queue's quarantine on RabbitMQ: a copy first, then
the caller acks the original.

The copy goes through the default exchange to QUEUE.quarantine, a plain
classic queue (durable, not auto-delete, no arguments) declared before the
first copy, with the body, headers and properties the message came with,
persistent. It is published on a channel of its own on the worker main's
connection, in confirm mode and mandatory, and the broker's confirm is
awaited: only then is the copy safe and the original may be acked. A
broker error (an incompatible QUEUE.quarantine, say) closes that channel
only, never the task channel Celery consumes on.

Two properties are left out of the copy: user_id (RabbitMQ refuses a
message whose user_id is not the publishing connection's user) and
expiration (the copy must stay in the quarantine). py-amqp decodes a body
whose content_encoding it knows (utf-8 for Celery's JSON) and encodes it
again with that encoding when publishing, which gives the same bytes back.

Everything here runs on the worker main's event loop. While it waits for
the broker, py-amqp dispatches the deliveries that arrive meanwhile; a
move they ask for then sees busy set and must wait for the loop's next
turn (revrx_amqp does).
"""
from revrx_intake import QUARANTINE_SUFFIX

CONFIRM_TIMEOUT = 5.0  # s the loop may wait for the broker's confirm
PERSISTENT = 2
DROPPED_PROPERTIES = ("user_id", "expiration")
RAW_FIELD = "_revrx_raw"  # the amqp.Message a kombu message was made of


class Unroutable(Exception):
    """The broker returned the copy: no queue took it."""


class Mover:
    """Copies messages to quarantine queues over one side channel."""

    def __init__(self):
        self.channel = None  # the side channel, opened on first use
        self.declared = set()  # quarantine queues declared on it
        self.returned = []
        self.busy = False  # a move waits for the broker

    def move(self, message, queue):
        """Copy message (a kombu message of the pyamqp transport) to
        queue + QUARANTINE_SUFFIX and wait for the broker's confirm; return
        that queue's name. The original is not touched: the caller acks it.
        Raises if the broker did not take the copy (the side channel is then
        closed, and the next move opens a new one)."""
        name = queue + QUARANTINE_SUFFIX
        self.busy = True
        try:
            channel = self.side_channel(message.channel.connection)
            if name not in self.declared:
                channel.queue_declare(name, durable=True, auto_delete=False)
                self.declared.add(name)
            del self.returned[:]
            channel.basic_publish_confirm(copy_of(message), exchange="", routing_key=name,
                                          mandatory=True, confirm_timeout=CONFIRM_TIMEOUT)
            if self.returned:
                raise Unroutable("the broker returned the copy for %s: %s" % (name, self.returned[0]))
        except Exception as exc:
            self.drop(timed_out=isinstance(exc, TimeoutError))  # socket.timeout
            raise
        finally:
            self.busy = False
        return name

    def side_channel(self, connection):
        """The side channel on connection (the py-amqp connection the
        message came on), opened if there is none on it yet."""
        channel = self.channel
        if channel is None or not channel.is_open or channel.connection is not connection:
            if connection is None:
                raise ConnectionError("the message's connection is closed")
            channel = self.channel = connection.channel()
            channel.events["basic_return"].add(self.on_return)
            self.declared = set()
        return channel

    def on_return(self, exc, exchange, routing_key, message):
        self.returned.append(str(exc))

    def drop(self, timed_out=False):
        """Forget the side channel after a failure: a confirm still on its
        way must not be taken for the next copy's. It is closed unless the
        broker did not answer in time (a blocked connection would not answer
        the close either, and the worker's loop would wait on it)."""
        channel, self.channel = self.channel, None
        if channel is not None and channel.is_open and not timed_out:
            try:
                channel.close()
            except Exception:  # noqa: B902 - it is gone either way
                pass


def copy_of(message):
    """The amqp.Message to publish for message: the body as it came (the
    raw delivery's, kept by keep_raw, before kombu decompressed it), its
    properties and headers, persistent, less DROPPED_PROPERTIES."""
    import amqp
    raw = getattr(message, RAW_FIELD, None) or message
    props = {k: v for k, v in (raw.properties or {}).items() if k not in DROPPED_PROPERTIES}
    props["delivery_mode"] = PERSISTENT
    return amqp.Message(raw.body, **props)


def size_of(message):
    """The body's size in bytes as it came (encoded again if py-amqp
    decoded it)."""
    raw = getattr(message, RAW_FIELD, None) or message
    body = raw.body
    if isinstance(body, str):
        return len(body.encode((raw.properties or {}).get("content_encoding") or "utf-8", "surrogateescape"))
    return len(body or b"")


def keep_raw(channel):
    """Make channel (a kombu pyamqp channel) keep each delivery's
    amqp.Message on the kombu message made of it (RAW_FIELD). Idempotent."""
    if vars(channel).get(RAW_FIELD):
        return
    to_python = channel.message_to_python

    def kept(raw):
        message = to_python(raw)
        setattr(message, RAW_FIELD, raw)
        return message

    channel.message_to_python = kept
    vars(channel)[RAW_FIELD] = True


def queue_of(consumer, message, default):
    """The queue message came from: the one its consumer tag consumes in
    consumer (kombu's Consumer), else its routing key (Celery routes a task
    to a queue's own direct exchange by the queue's name), else default."""
    info = message.delivery_info or {}
    tag = info.get("consumer_tag")
    for name, active in list((getattr(consumer, "_active_tags", None) or {}).items()):
        if active == tag:
            return name
    return info.get("routing_key") or default

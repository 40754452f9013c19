"""What the worker main takes from Redis, and what it does with bad input.

Two patches of kombu's Redis transport, for this worker main only:

gate: with no pool process (the pool sized to 0) the main must not reserve
anything, but kombu reads a prefetch count of 0 as unlimited. So the task
channel's QoS.can_consume answers False while the pool is empty, except to
read the reply of a BRPOP already in flight, whatever the prefetch count
(kombu would otherwise leave a popped message unread in its socket after a
shrink lowered the count).

quarantine: kombu decodes each message it pops inside the event loop; a
message that is not JSON, not UTF-8, not a kombu envelope, or that Celery
cannot turn into a request raises out of the loop and Celery exits with
"Unrecoverable error", losing it (it was popped, not yet recorded as
unacked). Here such a message goes, as the exact bytes popped, to the front
of QUEUE.quarantine (LPUSH, as the supervisor's quarantine does), leaves
unacked if kombu had recorded it, and is reported; the worker carries on.
"""
import base64
import json
import logging

QUARANTINE_SUFFIX = ".quarantine"
REASON_LIMIT = 300

logger = logging.getLogger("revrx.intake")


class Capture:
    """The raw arguments of kombu's bytes_to_str while a BRPOP reply is
    being read: the first is the list key, the second the message."""

    def __init__(self):
        self.active = False
        self.args = []


def install_quarantine(report):
    """Patch kombu's Redis Channel._brpop_read; report(dict) hears every
    quarantined message. Returns False if the transport is not there."""
    try:
        from kombu.transport import redis as kredis
    except ImportError:
        return False
    cap, to_str, read = Capture(), kredis.bytes_to_str, kredis.Channel._brpop_read

    def capturing_to_str(s):
        if cap.active:
            cap.args.append(s)
        return to_str(s)

    def guarded_read(self, **options):
        cap.active, cap.args = True, []
        try:
            return read(self, **options)
        except kredis.Empty:
            raise
        except self.connection_errors:
            raise
        except Exception as exc:  # noqa: B902 - any bad input, never the loop
            if len(cap.args) < 2:
                raise
            queue = to_str(cap.args[0]).rsplit(self.sep, 1)[0]
            report(quarantine(self, queue, cap.args[1], exc))
            return True
        finally:
            cap.active, cap.args = False, []

    kredis.bytes_to_str = capturing_to_str
    kredis.Channel._brpop_read = guarded_read
    return True


def quarantine(channel, queue, raw, exc):
    """Move raw to queue's quarantine list and out of unacked; return the report."""
    raw = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
    info = describe(raw)
    with channel.conn_or_acquire() as client:
        client.lpush(queue + QUARANTINE_SUFFIX, raw)
    tag = info.get("tag")
    if isinstance(tag, str) and tag in getattr(channel.qos, "_delivered", {}):
        channel.qos.ack(tag)  # kombu recorded it: it leaves unacked
    return reported(queue, exc, len(raw), info)


def reported(queue, exc, size, info):
    """Log that an undecodable message of queue (size bytes, exc why) went
    to its quarantine; return the report ({"type": "quarantined", ...}
    with the task id and name that info holds, if any)."""
    reason = ("%s: %s" % (type(exc).__name__, exc))[:REASON_LIMIT]
    logger.error("quarantined an undecodable message in %s%s: %s", queue, QUARANTINE_SUFFIX, reason)
    report = {"type": "quarantined", "queue": queue, "reason": reason, "bytes": size}
    for key in ("task_id", "task"):
        if info.get(key):
            report[key] = info[key]
    return report


def describe(raw):
    """Whatever of the task id, name and delivery tag raw still tells."""
    try:
        env = json.loads(raw.decode("utf-8"))
        props, headers = env.get("properties") or {}, env.get("headers") or {}
        return {"tag": props.get("delivery_tag"), "task_id": str(headers.get("id") or ""),
                "task": str(headers.get("task") or "")}
    except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
        return {"preview": base64.b64encode(raw[:64]).decode()}


def install_gate(channel, has_processes):
    """Make channel consume only while has_processes() (or to finish a BRPOP
    in flight). Idempotent per channel; returns False if not a Redis one."""
    qos = getattr(channel, "qos", None)
    if qos is None or not hasattr(channel, "_in_poll") or getattr(qos, "_revrx_gated", False):
        return qos is not None and hasattr(channel, "_in_poll")
    can_consume = qos.can_consume

    def gated():
        if channel._in_poll:
            return True  # read the reply in flight: a popped message is never left unread
        return has_processes() and can_consume()

    qos.can_consume, qos._revrx_gated = gated, True
    return True

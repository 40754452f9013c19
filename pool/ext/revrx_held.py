"""Record the messages a forked worker main takes (the held-hash scheme).

The supervisor's broker/restore.go reads what this writes: after a worker
main is gone, HELD_PREFIX + its node name names exactly the messages it had
in flight, so they go back to their queues within seconds instead of after
kombu's visibility timeout.
"""
import os

HELD_PREFIX = "revrx.held."  # + node name: broker/restore.go reads it
TAKE_FIELD = "x_revrx_take"  # in a taken message's properties: broker/restore.go


def track_held(node):
    """Record in the Redis hash HELD_PREFIX + node every message this worker
    takes: delivery tag -> a take id of its own, written before kombu records
    the message in its unacked hash, with the same take id in the message's
    properties (TAKE_FIELD) so that the unacked entry says which take it is,
    and deleted in the same MULTI/EXEC as kombu's ack. A message kombu puts
    back itself keeps its hash entry (and loses its take id on the way back
    to the queue). So once the worker is gone its hash names exactly the
    messages it had in flight, and an unacked entry is still this worker's
    only while its take id matches: the supervisor never touches a message
    another worker has taken since, under the same delivery tag. The hash
    expires two visibility timeouts after the last take (by then kombu's own
    sweep has restored what it held). Only kombu's Redis transport is
    patched; with any other the function does nothing."""
    try:
        from kombu.transport import redis as kredis
        qos, chan_cls = kredis.QoS, kredis.Channel
        append, remove = qos.append, qos._remove_from_indices
        restore = chan_cls._do_restore_message
    except (ImportError, AttributeError):
        return
    if not node:
        return
    key = HELD_PREFIX + node

    def tracked_append(self, message, delivery_tag):
        chan = self.channel
        take = os.urandom(8).hex()
        props = message._raw.get("properties") if isinstance(message._raw, dict) else None
        if isinstance(props, dict):
            props[TAKE_FIELD] = take
        ttl = int(2 * max(chan.visibility_timeout, 60))
        prefix = getattr(chan, "global_keyprefix", "") or ""
        with chan.conn_or_acquire() as client:
            # HSET is prefixed by kombu's client, EXPIRE is not.
            client.pipeline().hset(key, delivery_tag, take).expire(prefix + key, ttl).execute()
        return append(self, message, delivery_tag)

    def tracked_remove(self, delivery_tag, pipe=None):
        piped = remove(self, delivery_tag, pipe)
        if pipe is None:  # ack (and reject); a restore passes its transaction
            piped = piped.hdel(key, delivery_tag)
        return piped

    def untaken_restore(self, payload, exchange, routing_key, pipe, leftmost=False):
        props = payload.get("properties") if isinstance(payload, dict) else None
        if isinstance(props, dict):
            props.pop(TAKE_FIELD, None)
        return restore(self, payload, exchange, routing_key, pipe, leftmost)

    qos.append, qos._remove_from_indices = tracked_append, tracked_remove
    chan_cls._do_restore_message = untaken_restore

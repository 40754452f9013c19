"""The version gate: the private Celery, billiard and kombu fields the pool
engine relies on, checked before it is used.

static_check(transport) runs in the app host before any worker main starts
(class attributes and the names AsynPool.__init__ sets), with the Redis
transport's fields for a Redis broker and py-amqp's and kombu's consumer
fields for RabbitMQ (transport_of(app) tells which); live_check(consumer)
runs in the worker on the live objects. Each returns "" when everything is there,
else one line naming what is missing, which the supervisor logs once and
shows in /status before it falls back to the whole-worker engine.
"""

# Attributes AsynPool.__init__ (or billiard's Pool.__init__) must set.
POOL_FIELDS = ("_busy_workers", "_active_writes", "_waiting_to_start", "_all_inqueues",
               "_fileno_to_inq", "outbound_buffer")
BASE_POOL_FIELDS = ("_cache", "_pool", "_processes", "_putlock")
POOL_METHODS = ("grow", "maintain_pool", "on_shrink", "on_job_process_lost", "_event_process_exit")
JOB_FIELDS = ("_write_to", "_scheduled_for", "_worker_pid", "correlation_id")
JOB_METHODS = ("worker_pids", "ready")
CHANNEL_METHODS = ("_brpop_read", "_brpop_start", "conn_or_acquire")
QOS_METHODS = ("can_consume", "ack", "append")
KOMBU_QOS_METHODS = ("set", "update", "increment_eventually", "decrement_eventually")
# RabbitMQ (revrx_amqp, revrx_mover).
AMQP_CHANNEL_METHODS = ("basic_publish_confirm", "queue_declare", "close")
CONSUMER_METHODS = ("consume", "cancel", "on_message", "_queues")
CELERY_HANDLERS = ("on_decode_error", "on_unknown_message", "on_invalid_task", "create_task_handler")
REDIS_TRANSPORT = "kombu.transport.redis"
AMQP_TRANSPORT = "kombu.transport.pyamqp"


def missing(obj, names, label):
    return ["%s.%s" % (label, n) for n in names if not hasattr(obj, n)]


def code_names(fn):
    code = getattr(fn, "__code__", None)
    return set(code.co_names) if code is not None else set()


def transport_of(app):
    """The module of app's broker transport (REDIS_TRANSPORT,
    AMQP_TRANSPORT, ...), "" if it cannot be told."""
    try:
        from kombu.transport import resolve_transport
        return resolve_transport(app.connection_for_read().transport_cls).__module__
    except Exception:  # noqa: B902 - unknown: every check applies
        return ""


def static_check(transport=""):
    """"" if this Celery/billiard/kombu has what the pool engine uses with
    transport (a module name; "" checks Redis's fields as for Redis)."""
    try:
        from billiard.pool import ApplyResult, Pool
        from celery.concurrency.asynpool import AsynPool
        from kombu.common import QoS as ConsumerQoS
    except ImportError as exc:
        return "import: %s" % exc
    try:
        gaps = transport_gaps(transport)
    except ImportError as exc:
        return "import: %s" % exc
    gaps += missing(AsynPool, POOL_METHODS, "AsynPool")
    gaps += missing(ApplyResult, JOB_METHODS, "ApplyResult")
    gaps += missing(ConsumerQoS, KOMBU_QOS_METHODS, "kombu.common.QoS")
    names = code_names(AsynPool.__init__)
    gaps += ["AsynPool.%s" % n for n in POOL_FIELDS if n not in names]
    names = code_names(ConsumerQoS.__init__)
    gaps += ["kombu.common.QoS.%s" % n for n in ("_mutex", "value") if n not in names]
    names = code_names(Pool.__init__)
    gaps += ["Pool.%s" % n for n in BASE_POOL_FIELDS if n not in names]
    names = code_names(ApplyResult.__init__)
    gaps += ["ApplyResult.%s" % n for n in JOB_FIELDS if n not in names and not hasattr(ApplyResult, n)]
    return "missing " + ", ".join(gaps) if gaps else ""


def transport_gaps(transport):
    """What the Redis (transport "" too) or the RabbitMQ part lacks."""
    if transport == AMQP_TRANSPORT:
        import amqp
        from celery.worker.consumer.consumer import Consumer as CeleryConsumer
        from kombu.messaging import Consumer
        from kombu.transport import pyamqp
        gaps = missing(amqp.Channel, AMQP_CHANNEL_METHODS, "amqp.Channel")
        gaps += missing(pyamqp.Channel, ("message_to_python",), "pyamqp.Channel")
        gaps += missing(Consumer, CONSUMER_METHODS, "kombu.Consumer")
        gaps += ["kombu.Consumer._active_tags"] if "_active_tags" not in code_names(Consumer.__init__) else []
        gaps += ["amqp.Channel.events"] if "events" not in code_names(amqp.Channel.__init__) else []
        return gaps + missing(CeleryConsumer, CELERY_HANDLERS, "celery Consumer")
    if transport not in ("", REDIS_TRANSPORT):
        return []
    from kombu.transport import redis as kredis
    gaps = missing(kredis.Channel, CHANNEL_METHODS, "redis.Channel")
    gaps += missing(kredis.QoS, QOS_METHODS, "redis.QoS")
    return gaps + missing(kredis, ("bytes_to_str", "Empty"), "kombu.transport.redis")


def live_check(consumer):
    """"" if the running worker's pool and consumer have the fields."""
    pool = getattr(getattr(consumer, "pool", None), "_pool", None)
    if pool is None:
        return "the worker has no prefork pool (--pool prefork is required)"
    gaps = missing(pool, POOL_FIELDS + BASE_POOL_FIELDS + POOL_METHODS, "pool")
    handlers = getattr(getattr(pool, "_result_handler", None), "state_handlers", None)
    if not isinstance(handlers, dict):
        gaps.append("pool._result_handler.state_handlers")
    if getattr(consumer, "hub", None) is None:
        gaps.append("consumer.hub (the event loop)")
    if getattr(consumer, "qos", None) is None:
        gaps.append("consumer.qos")
    return "missing " + ", ".join(gaps) if gaps else ""

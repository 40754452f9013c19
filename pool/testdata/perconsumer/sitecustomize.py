"""Per-consumer QoS for Celery 5.2 on RabbitMQ 3.x, for the pool engine's
tests only (on PYTHONPATH, Python imports it at start-up).

Celery 5.2 asks for global QoS because kombu says RabbitMQ's semantics do
not match the spec (qos_semantics_matches_spec is False for RabbitMQ 3.3
and later). Saying they match makes it ask for per-consumer QoS
(basic.qos with global=False) as Celery 5.5 does with a quorum queue and as
RabbitMQ 4.3 makes of every request: a classic queue accepts either, so
the per-consumer path can run on this machine's RabbitMQ 3.10."""
from kombu.connection import Connection

Connection.qos_semantics_matches_spec = property(lambda self: True)

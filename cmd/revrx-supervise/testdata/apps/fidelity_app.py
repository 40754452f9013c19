"""A Celery app that configures its broker itself, as real apps do.

Its broker_url (db 3 of the Redis on $FIDELITY_REDIS_PORT, with the
password $FIDELITY_REDIS_PASSWORD if set), a
global_keyprefix, ten priority steps with ":" as the separator, and a
default queue are all in its own configuration: nothing in the
environment tells revrx-supervise where its queue keys are.
"""
import os
import time

from celery import Celery

app = Celery("fidelity")
_password = os.environ.get("FIDELITY_REDIS_PASSWORD", "")
app.conf.update(
    broker_url="redis://%s127.0.0.1:%s/3" % (
        ":%s@" % _password if _password else "", os.environ["FIDELITY_REDIS_PORT"]),
    broker_transport_options={
        "priority_steps": list(range(10)),
        "sep": ":",
        "global_keyprefix": "fid:",
        "queue_order_strategy": "priority",
    },
    task_default_queue="fidq",
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
)


@app.task(name="fidelity.block")
def block(seconds):
    time.sleep(seconds)

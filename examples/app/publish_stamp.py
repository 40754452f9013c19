"""Stamp every published task with the time it was published.

Celery's task message carries no publish timestamp (see docs/celery-on-redis.md, "Task messages"),
so queue wait (publish -> start) cannot be measured exactly from the worker
side alone. A producer that wants exact waits copies these lines into any
module it imports before publishing (its Celery app module is the usual place):

    @before_task_publish.connect(weak=False, dispatch_uid="revrx.publish_stamp")
    def _stamp_published_at(headers=None, **kwargs):
        headers.setdefault("published_at", time.time())

It works because Celery passes the same ``headers`` dict to this signal and to
``producer.publish``: the header lands in the Redis envelope, and the worker
reads it back as ``self.request.published_at``. ``setdefault`` keeps the first
stamp if a task is re-published (e.g. by ``retry``) with its old headers.
Wall clock (time.time) on purpose: producer and worker are different hosts or
processes, so a monotonic clock would not be comparable.
"""
import time

from celery.signals import before_task_publish


@before_task_publish.connect(weak=False, dispatch_uid="revrx.publish_stamp")
def _stamp_published_at(headers=None, **kwargs):
    if headers is not None:
        headers.setdefault("published_at", time.time())

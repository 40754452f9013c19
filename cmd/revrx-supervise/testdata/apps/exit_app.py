"""A Celery app whose workers end at start-up as $EXIT_AT_INIT says:
"N" exits with status N, "signal:N" kills itself with signal N; unset runs
normally. For tests of the exit statuses the supervisor collects."""
import os
import signal

from celery import Celery
from celery.signals import worker_init

app = Celery("exit_app")


@worker_init.connect
def _end(**_):
    how = os.environ.get("EXIT_AT_INIT", "")
    if how.startswith("signal:"):
        os.kill(os.getpid(), int(how.split(":")[1]))
    elif how:
        os._exit(int(how))

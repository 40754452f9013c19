"""A Celery app with the start-up cost of a Django-sized project.

The same app and tasks as ``tasks`` (``tasks.sleep``, ``tasks.fail``), plus
what a large project pays at import: a slow import (settings, ORM models,
URL confs, translation catalogs...) and tens of megabytes of module-level
Python objects. cmd/revrx-startup measures how long a worker takes to be
ready with it, exec'd or forked from an app host, and how much memory each
worker adds (PSS: forked workers share these objects copy-on-write).

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
        /usr/bin/python3 -m celery -A heavy worker -Q reports   (cwd = this directory)

Environment:
    REVRX_HEAVY_IMPORT_SECONDS  time.sleep at import (default 2)
    REVRX_HEAVY_MB              approximate size of the module-level data in
                                MB (default 50)
    and those of ``tasks``.
"""
import os
import sys
import time

from tasks import app, fail, sleep  # noqa: F401  (the app and its tasks)

IMPORT_SECONDS = float(os.environ.get("REVRX_HEAVY_IMPORT_SECONDS", "2"))
DATA_MB = float(os.environ.get("REVRX_HEAVY_MB", "50"))

# One entry is a distinct str of about ENTRY_BYTES in memory (object header
# included); the list holds them, so they stay alive as real objects.
ENTRY_BYTES = 1024
_PAD = "x" * (ENTRY_BYTES - sys.getsizeof("") - 16)


def _build(megabytes):
    """Return a list of distinct strings of about ``megabytes`` MB in total."""
    count = int(megabytes * (1 << 20) / ENTRY_BYTES)
    return ["%015d:%s" % (i, _PAD) for i in range(count)]


time.sleep(IMPORT_SECONDS)
CATALOG = _build(DATA_MB)

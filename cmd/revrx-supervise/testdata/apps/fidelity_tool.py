"""Publish to the fidelity app's queue and count it as kombu does.

    fidelity_tool.py publish N PRIORITY SECONDS   N fidelity.block(SECONDS) at PRIORITY
    fidelity_tool.py size                          kombu's own Channel._size of the queue
    fidelity_tool.py keys                          the Redis keys holding its messages
"""
import sys

from fidelity_app import app, block

QUEUE = app.conf.task_default_queue


def main(argv):
    cmd = argv[0]
    with app.connection_for_write() as conn:
        chan = conn.default_channel
        if cmd == "publish":
            n, pri, secs = int(argv[1]), int(argv[2]), float(argv[3])
            for _ in range(n):
                block.apply_async((secs,), priority=pri, connection=conn)
        elif cmd == "size":
            print(chan._size(QUEUE))
        elif cmd == "keys":
            client = chan.client
            print("\n".join(sorted(k.decode() for k in client.keys("*%s*" % QUEUE))))
        else:
            raise SystemExit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv[1:])

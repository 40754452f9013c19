"""The worker side of the supervisor's control socket.

One SOCK_SEQPACKET socket joins the supervisor and a worker main: each
message is one JSON object. It is non-blocking and served from the worker's
event loop, so nothing here may wait: a message that cannot be sent at once
(the supervisor is slow to read) is dropped, and the next state
push carries the news again.
"""
import errno
import json
import os
import socket

MAX_MESSAGE = 1 << 20


class Wire:
    """Send and receive JSON messages on the control socket fd."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)  # the kind is read from the fd
        self.sock.setblocking(False)
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def send(self, msg):
        """Send msg now or drop it (never blocks); False once closed."""
        if self.closed:
            return False
        try:
            self.sock.send(json.dumps(msg, separators=(",", ":")).encode())
            return True
        except (BlockingIOError, InterruptedError):
            return True  # dropped: the next push carries the news
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF):
                self.closed = True
                return False
            raise

    def receive(self):
        """Return the messages waiting now (none if there are none); a
        closed socket sets self.closed. Malformed messages are skipped."""
        msgs = []
        while not self.closed:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            if isinstance(msg, dict):
                msgs.append(msg)
        return msgs

    def close_in_child(self):
        """Close the socket in a forked pool child (os.register_at_fork)."""
        self.closed = True
        try:
            os.close(self.sock.detach())
        except OSError:
            pass

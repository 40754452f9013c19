"""revrx-supervise app host: import the Celery app once, then fork workers.

The supervisor embeds this file and runs it with the interpreter of
--celery-cmd, with its end of a SOCK_SEQPACKET socket pair as file
descriptor 3 and these arguments:

    python3 - --app APP --title-room SPACES    (the program on standard input)

It imports the app exactly as ``celery -A APP`` finds it (APP, else
$CELERY_APP, else Celery's default app; the working directory on
sys.path), finalizes it, imports its task modules and the worker's own
modules, calls gc.freeze(), and sends one JSON message:

    {"type": "ready", "pid": N, "config": {...}}         the app's settings
    {"type": "error", "stage": "import", "error": "...",
     "traceback": [last lines]}                            then exits 3

Then, for every request

    {"type": "fork", "id": N, "name": NODENAME, "argv": [...], "env": {...}}
    with two file descriptors (SCM_RIGHTS): the worker's stdout and stderr

it forks twice so that the worker is re-parented to the supervisor (a
child subreaper, or PID 1), which therefore waits for its exact exit status
itself, and answers {"type": "forked", "id": N, "pid": PID} or
{"type": "fork_failed", "id": N, "error": "..."}. The worker runs
``celery ARGV`` exactly as ``python -m celery ARGV`` would, with the app
already imported, and records the messages it takes (revrx_held). A fork
request with "ext" carries a third descriptor, the worker's end of its
control socket: the pool engine's extension (revrx_step) is installed into
the worker before Celery starts it. The host exits when the supervisor
closes the socket.

The modules under pool/ext come with the program: the supervisor puts them
in _REVRX_MODULES (name -> source) before this text, and EmbeddedModules
imports them from there.

The host is single-threaded: forking a process with threads is unsafe.
"""
import gc
import importlib.abc
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import time
import traceback

SOCKET_FD = 3
MAX_MESSAGE = 1 << 20
EXIT_IMPORT_FAILED = 3
EXIT_NOT_REPARENTED = 70  # EX_SOFTWARE: the supervisor is not our reaper
TRACEBACK_LINES = 20
LOADED = {"app": None}  # the app main imported, for the workers it forks
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15  # the comm ps -o comm and top show; 15 bytes at most
BATCH_LINGER = 0.015  # s without a new request that ends a batch of forks
BATCH_MAX_AGE = 0.3  # s: a batch never holds its first worker longer

# Modules a worker imports while it boots; importing them here once means
# each forked worker starts with them in memory, shared copy-on-write.
WORKER_MODULES = (
    "celery.bin.celery", "celery.bin.worker", "celery.apps.worker",
    "celery.worker", "celery.worker.consumer", "celery.worker.components",
    "celery.worker.autoscale", "celery.worker.strategy", "celery.worker.request",
    "celery.worker.control", "celery.worker.pidbox", "celery.worker.heartbeat",
    "celery.concurrency.prefork", "celery.concurrency.asynpool",
    "celery.concurrency.thread", "celery.concurrency.solo",
    "celery.events", "celery.events.dispatcher", "celery.app.trace",
    "kombu.transport.redis", "kombu.transport.virtual", "kombu.transport.pyamqp", "billiard.pool",
    "redis",
)
# The pool engine's modules (pool/ext), imported once here for the same reason.
EXTENSION_MODULES = ("revrx_held", "revrx_gate", "revrx_wire", "revrx_children", "revrx_mover", "revrx_amqp",
                     "revrx_sizing", "revrx_retire", "revrx_intake", "revrx_dispatch", "revrx_step")


class EmbeddedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import the modules the supervisor sent with this program."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, name, path=None, target=None):
        if name in self.sources:
            return importlib.util.spec_from_loader(name, self, origin="revrx-supervise/pool/ext/%s.py" % name)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.sources[module.__name__], module.__spec__.origin, "exec")
        exec(code, module.__dict__)  # noqa: S102 - our own embedded source


def main(argv):
    sys.meta_path.insert(0, EmbeddedModules(globals().get("_REVRX_MODULES") or {}))
    sup_pid, app_name = os.getppid(), parse_args(argv)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=SOCKET_FD)
    set_cmdline(["revrx-apphost", "-A", app_name or os.environ.get("CELERY_APP", "")])
    set_comm("revrx-apphost")
    try:
        app = LOADED["app"] = load_app(app_name)
        config = app_config(app)
    except BaseException as exc:  # noqa: B902 - report anything, even SystemExit
        send(sock, import_error(exc))
        return EXIT_IMPORT_FAILED
    gc.collect()
    gc.freeze()
    send(sock, {"type": "ready", "pid": os.getpid(), "config": config})
    serve(sock, sup_pid)
    return 0


def parse_args(argv):
    """Return the app name of ``--app APP`` ("" if not given).

    --title-room is padding: its blanks make the room in which
    set_cmdline writes a process's command line.
    """
    app_name = ""
    it = iter(argv)
    for arg in it:
        if arg == "--app":
            app_name = next(it)
        elif arg == "--title-room":
            next(it)
        else:
            raise SystemExit("apphost: unknown argument %r" % arg)
    return app_name


def set_comm(name):
    """Set the process name (comm: ps -o comm, top), 15 bytes at most."""
    if name:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def set_cmdline(words):
    """Show words as this process's command line (/proc/PID/cmdline, ps),
    as setproctitle does: overwrite the argv area the kernel reads it from,
    padded with NULs, through /proc/self/mem. Best effort."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end
        data = "\0".join(words).encode()[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(data + b"\0" * (end - start - len(data)))
    except (OSError, ValueError, IndexError):
        pass


def load_app(app_name):
    """Return the app as ``celery -A`` would, finalized, tasks imported."""
    app_name = app_name or os.environ.get("CELERY_APP", "")
    from celery.app.utils import find_app
    if app_name:
        app = find_app(app_name)
    else:
        from celery import current_app
        app = current_app._get_current_object()
    app.finalize(auto=True)
    app.loader.import_default_modules()
    for name in WORKER_MODULES + EXTENSION_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass  # optional pieces (e.g. a pool this install lacks)
    return app


def app_config(app):
    """The settings revrx-supervise reads, as the workers will resolve them."""
    import celery
    import kombu
    from kombu.transport.redis import Channel
    conf = app.conf
    opts = dict(conf.broker_transport_options or {})
    url = conf.broker_url
    if isinstance(url, (list, tuple)):
        url = ";".join(url)
    steps = opts.get("priority_steps", Channel.priority_steps)
    return {
        "broker_url": url or "",
        "global_keyprefix": str(opts.get("global_keyprefix", Channel.global_keyprefix) or ""),
        "priority_steps": [int(s) for s in steps],
        "sep": str(opts.get("sep", Channel.sep)),
        "visibility_timeout": float(opts.get("visibility_timeout", Channel.visibility_timeout)),
        "queue_order_strategy": str(opts.get("queue_order_strategy", "round_robin")),
        "master_name": str(opts.get("master_name", "") or ""),
        "task_default_queue": str(conf.task_default_queue or "celery"),
        "task_acks_late": bool(conf.task_acks_late),
        "worker_prefetch_multiplier": int(conf.worker_prefetch_multiplier or 0),
        "app": app.main or "",
        "celery_version": celery.__version__,
        "kombu_version": kombu.__version__,
        "python_version": sys.version.split()[0],
        "pool_engine_gap": pool_engine_gap(app),
    }


def pool_engine_gap(app):
    """"" if the pool engine can run here with app's broker, else what it misses."""
    try:
        from revrx_gate import static_check, transport_of
    except ImportError as exc:
        return "revrx_gate: %s" % exc
    return static_check(transport_of(app))


def import_error(exc):
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines).rstrip().splitlines()
    return {
        "type": "error", "stage": "import",
        "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        "traceback": text[-TRACEBACK_LINES:],
    }


def send(sock, msg):
    sock.sendmsg([json.dumps(msg).encode()])


class Batch:
    """Workers forked close together start booting together.

    A booting worker takes a core for about a second; if it began at once,
    the host's next forks would wait behind it, and a scale-up by seven
    would fork the seventh worker most of a second late. So each worker
    first waits on a gate pipe, which the host closes once no further
    request has arrived for BATCH_LINGER (or the batch is BATCH_MAX_AGE old).
    A worker also goes ahead if the host dies (the pipe closes with it).
    """

    def __init__(self):
        self.gate = None  # (read end, write end) while a batch is open
        self.opened = 0.0

    def open(self):
        if self.gate is None:
            self.gate, self.opened = os.pipe(), time.monotonic()
        return self.gate

    def timeout(self):
        """How long to wait for another request before releasing the batch."""
        if self.gate is None:
            return None
        return max(0.0, min(BATCH_LINGER, self.opened + BATCH_MAX_AGE - time.monotonic()))

    def release(self):
        if self.gate is not None:
            for fd in self.gate:
                os.close(fd)
            self.gate = None


def serve(sock, sup_pid):
    """Answer fork requests until the supervisor closes its end."""
    batch = Batch()
    try:
        while True:
            if not select.select([sock], [], [], batch.timeout())[0]:
                batch.release()
                continue
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
            if not data:
                return
            answer(sock, data, fds, sup_pid, batch)
    finally:
        batch.release()


def answer(sock, data, fds, sup_pid, batch):
    """Fork the worker data asks for, and say how it went."""
    try:
        req = json.loads(data)
        want = 3 if req.get("ext") is not None else 2
        if req.get("type") != "fork" or len(fds) != want:
            raise ValueError("bad request: want a fork request with %d descriptors" % want)
        pid = fork_worker(req, fds, sup_pid, batch.open())
        send(sock, {"type": "forked", "id": req["id"], "pid": pid})
    except Exception as exc:  # noqa: B902 - the host must outlive a bad request
        send(sock, {"type": "fork_failed", "id": req_id(data), "error": str(exc)})
    finally:
        for fd in fds:
            os.close(fd)


def req_id(data):
    try:
        return json.loads(data).get("id", 0)
    except ValueError:
        return 0


def fork_worker(req, fds, sup_pid, gate):
    """Fork twice; return the pid of the worker, an orphan of the supervisor."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(r)
            worker = os.fork()
            if worker == 0:
                os.close(w)
                run_worker(req, fds, sup_pid, gate)  # never returns
            os.write(w, b"%d" % worker)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        text = f.read()
    os.waitpid(middle, 0)  # once reaped, the worker has its new parent
    if not text:
        raise OSError("fork failed in the intermediate process")
    return int(text)


def run_worker(req, fds, sup_pid, gate):
    """In the worker: become a supervised Celery worker, then exit."""
    code = 1
    try:
        os.setpgid(0, 0)
        await_parent(sup_pid, req.get("name", ""), req["argv"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in {SOCKET_FD, null, fds[0], fds[1], gate[1]}:
            os.close(fd)
        if len(fds) > 2:
            os.set_inheritable(fds[2], False)
        while os.read(gate[0], 1):  # until the host releases the batch
            pass
        os.close(gate[0])
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.environ.update(req.get("env") or {})
        from revrx_held import track_held
        track_held(req.get("name", ""))
        if len(fds) > 2:
            install_extension(fds[2], req["ext"])
        code = run_celery(req["argv"])
    except SystemExit as exc:
        code = exit_code(exc)
    except BaseException:  # noqa: B902
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def await_parent(sup_pid, name, argv):
    """Wait to be re-parented to the supervisor, then die with it; take the
    worker's name as the process name (comm) and "celery ARGV" as the
    command line."""
    deadline = time.monotonic() + 5
    while os.getppid() != sup_pid:
        if time.monotonic() > deadline:
            sys.stderr.write("apphost: worker not re-parented to the supervisor %d\n" % sup_pid)
            os._exit(EXIT_NOT_REPARENTED)
        time.sleep(0.0005)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != sup_pid:  # it died before the prctl
        os._exit(EXIT_NOT_REPARENTED)
    set_comm(name)
    set_cmdline(["celery"] + list(argv))


def install_extension(fd, settings):
    """Install the pool engine's extension into this worker main."""
    from revrx_step import install
    install(LOADED["app"], fd, settings)


def run_celery(argv):
    """Run ``celery ARGV`` as ``python -m celery ARGV`` does; return its code."""
    import celery.__main__
    from celery.bin.celery import main as celery_main
    sys.argv = [celery.__main__.__file__] + list(argv)  # as with python -m celery
    return exit_code(SystemExit(celery_main()))


def exit_code(exc):
    """The process exit status sys.exit would give for exc."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write("%s\n" % code)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

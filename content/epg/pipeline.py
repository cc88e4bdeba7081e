"""Parsing and writing at the same time: the guide is downloaded and parsed in a forked child process while
this process writes the rows it sends (COPY on PostgreSQL), so the two overlap on two cores.

The child gets nothing but a pipe: it downloads, decompresses and reads the XML as the in-process path does
(same code, same hardening, same deadline) and sends ``marshal`` frames of what it reads (the importer sends raw
programmes, checked and timed on this side, so the two processes share the work), then what ``work`` returned. The pipe is the bounded queue between the two: when the writer falls behind, the child blocks on
its next frame (at most :data:`PIPE_BYTES` plus one frame are in flight), so memory stays flat whatever the
guide's size.

Failures end both sides and leave nothing behind:

* the child fails (bad XML, refused guide, timeout, download error): it sends the error, which is raised
  here as the same :class:`FetchFailed` (or :class:`FetchTimedOut`) with the same message; an unexpected
  exception in the child is raised as :class:`ParserCrashed` with its type and text;
* the child dies without a word (killed, out of memory): :class:`ParserCrashed` names the signal;
* the writer fails (a database error, the deadline): the child is killed and reaped before the error
  propagates — no process and no thread is left running;
* the worker dies (killed, out of memory): on Linux the child is killed with it (``PR_SET_PDEATHSIG``).

The child never touches the database connection or any other shared resource, and leaves with
``os._exit`` (no atexit handler, no finalizer runs in it).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import marshal
import os
import signal
import struct
from collections.abc import Callable, Iterator

from .errors import FetchFailed, FetchTimedOut

HEADER = struct.Struct("!I")  # the length of the marshalled frame that follows
PIPE_BYTES = 1 << 20  # the pipe's capacity asked for (Linux); the default 64 KiB also works, with more switches
_F_SETPIPE_SZ = 1031
_PR_SET_PDEATHSIG = 1
_FAILURES = {FetchFailed.status: FetchFailed, FetchTimedOut.status: FetchTimedOut}

Send = Callable[[list], None]


class ParserCrashed(RuntimeError):
    """The parser process failed unexpectedly (a bug, or killed); the fetch is an internal error."""


def available() -> bool:
    """Whether this platform can fork (Linux, macOS); elsewhere the guide is parsed in-process."""
    return hasattr(os, "fork")


class ParserProcess:
    """Run ``work(send)`` in a forked child; iterate :meth:`batches` for what it sends, then read
    :attr:`result` (what ``work`` returned). Use as a context manager: leaving it always reaps the child."""

    def __init__(self, work: Callable[[Send], object]):
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only means more context switches
            import fcntl

            fcntl.fcntl(write_fd, _F_SETPIPE_SZ, PIPE_BYTES)
        # The objects alive now are the child's inheritance: frozen, the child's collections never walk them
        # (less CPU, and fewer shared pages copied on write).
        gc.freeze()
        parent = os.getpid()
        try:
            try:
                pid = os.fork()
            except OSError:  # no child (out of processes or memory): nothing else holds the pipe
                os.close(read_fd)
                os.close(write_fd)
                raise
            if pid == 0:  # pragma: no cover - the child's coverage is not collected (it leaves with os._exit)
                os.close(read_fd)
                _child(write_fd, work, parent)
        finally:
            gc.unfreeze()  # here only: the child never comes back from _child
        os.close(write_fd)
        self.pid: int | None = pid
        self.result = None
        self._frames = os.fdopen(read_fd, "rb", buffering=PIPE_BYTES)

    def __enter__(self) -> ParserProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def batches(self) -> Iterator[list]:
        """The row batches in the order sent; raises what the child raised, once its batches are read."""
        while True:
            kind, payload = self._read_frame()
            if kind == "rows":
                yield payload
            elif kind == "done":
                self.result = payload
                self._reap()
                return
            elif kind == "failed":
                status, message = payload
                self._reap()
                raise _FAILURES.get(status, FetchFailed)(message)
            else:  # "crashed"
                self._reap()
                raise ParserCrashed(f"The guide's parser process failed: {payload}")

    def _read_frame(self) -> tuple[str, object]:
        header = self._frames.read(HEADER.size)
        if len(header) == HEADER.size:
            (size,) = HEADER.unpack(header)
            body = self._frames.read(size)
            if len(body) == size:
                return marshal.loads(body)
        raise ParserCrashed(f"The guide's parser process ended unexpectedly ({self._reap()}); nothing was imported.")

    def _reap(self) -> str:
        """Wait for the child to end; how it ended, in words."""
        pid, self.pid = self.pid, None
        self._frames.close()
        if pid is None:
            return "already ended"
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored)
            return "its exit status is unknown"
        if os.WIFSIGNALED(status):
            return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exit status {os.WEXITSTATUS(status)}"

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the child
    """Linux: be killed when the worker dies (killed, out of memory), not only at the next frame sent."""
    with contextlib.suppress(Exception):  # no prctl (not Linux): the next frame's broken pipe ends the child
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that was in place
        os._exit(1)


def _child(write_fd: int, work: Callable[[Send], object], parent: int) -> None:  # pragma: no cover - child
    code = 1
    try:
        # No cyclic garbage collection: the child's objects (programmes, sent and dropped) form no cycles, and
        # the collector's passes over them cost about a tenth of its time. It lives for one guide.
        gc.disable()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; a Ctrl-C reaches both
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent(parent)
        frames = os.fdopen(write_fd, "wb", buffering=PIPE_BYTES)

        def send(kind: str, payload) -> None:
            body = marshal.dumps((kind, payload))
            frames.write(HEADER.pack(len(body)))
            frames.write(body)
            frames.flush()

        try:
            result = work(lambda rows: send("rows", rows))
        except FetchFailed as exc:
            send("failed", (exc.status, str(exc)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which records it
            send("crashed", f"{type(exc).__name__}: {exc}")
        else:
            send("done", result)
            code = 0
    finally:
        os._exit(code)

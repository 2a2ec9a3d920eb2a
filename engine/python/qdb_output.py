"""Output and input of the debugged program, for the qdb bridge: fds 1 and 2 captured into pipes
that a forwarder thread relays as ``print`` events (so output printed before a stop reaches the
clients before that stop), the tracer told when the program waits on its standard input, and
output not lost when the program leaves through os._exit or dies.

An OutputCapture owns the pipes, the forwarder thread and libc's fflush; it sends through the
bridge's channel (qdb_channel) while the session lasts. Standard library only, like the rest of the bridge.
"""

import codecs
import io
import os
import select
import struct
import sys
import threading
import time

import qdb_threads
from qdb_common import _MISSING

MAX_OUTPUT = 1_000_000  # characters of eval/pprint output sent back at most
_PIPE_CHUNK = 65536


def _reader_gone(fd):
    """True when fd is a pipe or socket whose reading end is closed."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


class _Stream(object):
    __slots__ = ("name", "fd", "saved", "read_fd", "decoder", "open")

    def __init__(self, name, fd, saved, read_fd):
        self.name = name
        self.fd = fd
        self.saved = saved
        self.read_fd = read_fd
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.open = True


class _StdinWatch(object):
    """sys.stdin as the program sees it: the same stream (every attribute is its), and the
    tracer is told when a read is about to wait for input that is not there yet."""

    def __init__(self, stream, capture):
        object.__setattr__(self, "_qdb_stream", stream)
        object.__setattr__(self, "_qdb_bridge", capture)

    def __getattr__(self, name):
        return getattr(self._qdb_stream, name)

    def __setattr__(self, name, value):
        setattr(self._qdb_stream, name, value)

    def __iter__(self):
        return self

    def __next__(self):
        self._qdb_bridge.before_stdin_read(self._qdb_stream)
        return next(self._qdb_stream)

    def __enter__(self):
        self._qdb_stream.__enter__()
        return self

    def __exit__(self, *exc):
        return self._qdb_stream.__exit__(*exc)

    def read(self, *args):
        self._qdb_bridge.before_stdin_read(self._qdb_stream)
        return self._qdb_stream.read(*args)

    def readline(self, *args):
        self._qdb_bridge.before_stdin_read(self._qdb_stream)
        return self._qdb_stream.readline(*args)

    def readlines(self, *args):
        self._qdb_bridge.before_stdin_read(self._qdb_stream)
        return self._qdb_stream.readlines(*args)


class _Capture(io.StringIO):
    """Where an eval's prints go; bounded so a print loop cannot eat the memory."""

    def __init__(self):
        io.StringIO.__init__(self)
        self.size = 0

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if self.size < MAX_OUTPUT + 1:
            io.StringIO.write(self, s[: MAX_OUTPUT + 1 - self.size])
        self.size += len(s)
        return len(s)


class ThreadRouted(object):
    """sys.stdout or sys.stderr while qdb evaluates code in one thread: that thread's writes go
    to the evaluation's capture, every other thread's to the stream they went to before (the
    program's other threads may run meanwhile: their prints were taken into the capture, and
    lost from the program's output). Every other attribute is the stream's of the caller."""

    def __init__(self, capture, stream, ident):
        object.__setattr__(self, "_qdb_capture", capture)
        object.__setattr__(self, "_qdb_stream", stream)
        object.__setattr__(self, "_qdb_ident", ident)

    def _qdb_target(self):
        if threading.get_ident() == self._qdb_ident:
            return self._qdb_capture
        return self._qdb_stream

    def write(self, s):
        return self._qdb_target().write(s)

    def __getattr__(self, name):
        return getattr(self._qdb_target(), name)


def _write_all(fd, data):
    """Writes all of `data` to `fd`; a closed or broken one is left alone."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[n:]


class OutputCapture(object):
    """The program's output, captured and relayed in order, and the watch of its input."""

    def __init__(self, channel, live, internal_thread):
        self.channel = channel
        self._live = live  # () -> False once the bridge detached: output goes to the real fds
        self._internal_thread = internal_thread  # the first call of the forwarder thread
        self.streams = []
        self._forwarder = None
        self.libc_fflush = _MISSING
        # Attached to a program that runs already: its output still goes where it went (the
        # session gets a copy).
        self.tee = False
        self._replaced = []  # (name in sys, the program's object, qdb's)
        self._fds_lock = threading.Lock()
        self._close_fds_at_end = False
        self._forwarder_done = False

    def capture(self):
        """Replaces fds 1 and 2 with pipes that a forwarder thread relays as ``print`` events.
        Capturing at the fd level catches everything: print, os.write, C code, subprocesses."""
        for fd, name in ((1, "<stdout>"), (2, "<stderr>")):
            try:
                saved = os.dup(fd)
            except OSError:
                continue  # closed fd: nothing to capture
            r, w = os.pipe()
            os.dup2(w, fd)
            os.close(w)
            os.set_blocking(r, False)
            self.streams.append(_Stream(name, fd, saved, r))
        # Python's own streams: write-through on an unbuffered raw file, as PYTHONUNBUFFERED
        # does, so text reaches the pipe (and clients) as soon as it is written.
        for attr, fd in (("stdout", 1), ("stderr", 2)):
            old = getattr(sys, attr, None)
            if old is None or not any(s.fd == fd for s in self.streams):
                continue
            try:
                if old.fileno() != fd:
                    continue
                new = io.TextIOWrapper(
                    io.FileIO(fd, "w", closefd=False), encoding=old.encoding,
                    errors=old.errors, write_through=True,
                )
                old.flush()
            except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
                continue
            self._replaced.append((attr, old, new))
            self._replaced.append(("__%s__" % attr, getattr(sys, "__%s__" % attr, None), new))
            setattr(sys, attr, new)
            setattr(sys, "__%s__" % attr, new)
        if self.streams:
            self._forwarder = qdb_threads.start_internal(self._forward_loop, "qdb-output")
            # The tracer holds the pipes' reading ends too (through /proc where there is one):
            # what the program wrote just before it was killed or crashed is still there for
            # the tracer to read once the process is gone.
            # Then it waits (a little) for the tracer to say it holds them: a program that dies
            # at once must not beat it. Its first frame is the answer; anything else is kept for
            # the reader loop.
            if self.channel.send("capture", {"pid": os.getpid(),
                                             "fds": {s.name: s.read_fd for s in self.streams}}):
                self.channel.await_first_frame(2.0)

    def watch_stdin(self):
        """Tells the tracer when the program waits for input (`reading`)."""
        if sys.stdin is not None and not isinstance(sys.stdin, _StdinWatch):
            sys.stdin = _StdinWatch(sys.stdin, self)

    def before_stdin_read(self, stream):
        if not self.channel.ok or not self._live():
            return
        try:
            ready, _, _ = select.select([stream.fileno()], [], [], 0)
        except Exception:
            return
        if not ready:
            self.channel.send("reading")

    def hook_exit(self, pid, on_exit):
        """os._exit skips atexit, and a signal the program sends itself (os.kill of its own pid,
        signal.raise_signal, os.abort) may end it at once: forward what the program wrote
        before it goes. Draining takes the send lock, so a piece of output the forwarder thread
        has read but not sent yet is sent first, instead of dying with the process. `on_exit`
        is told the status os._exit ends with."""
        capture = self

        def drain():
            if os.getpid() == pid and capture._live():
                try:
                    capture.drain()
                except Exception:
                    pass

        def wrap(module, name, to_self, then=None):
            real = getattr(module, name, None)
            if real is None:
                return

            def hooked(*args, **kws):
                if to_self(*args, **kws):
                    drain()
                    if then is not None:
                        then(*args, **kws)
                return real(*args, **kws)

            hooked.__name__ = name
            hooked.__doc__ = real.__doc__
            hooked.__wrapped__ = real
            hooked._qdb_hook = True
            setattr(module, name, hooked)

        import signal
        wrap(os, "_exit", lambda *a, **k: True,
             lambda *a, **k: on_exit(a[0] if a else k.get("status")))
        wrap(os, "abort", lambda *a, **k: True)
        wrap(os, "kill", lambda pid=None, *a, **k: pid in (os.getpid(), 0))
        wrap(signal, "raise_signal", lambda *a, **k: True)

    def _forward_loop(self):
        self._internal_thread()
        poller = select.poll()
        by_fd = {}
        for s in self.streams:
            poller.register(s.read_fd, select.POLLIN)
            by_fd[s.read_fd] = s
        while by_fd:
            try:
                ready = poller.poll()
            except InterruptedError:
                continue
            # Unbuffered streams write print("a", "b") as four writes: wait a moment so that
            # they travel as one event.
            time.sleep(0.002)
            for fd, _ in ready:
                s = by_fd.get(fd)
                if s is None:
                    continue
                with self.channel.lock:
                    if not self._pump(s, None):
                        poller.unregister(fd)
                        del by_fd[fd]
        with self._fds_lock:
            self._forwarder_done = True
            close = self._close_fds_at_end
        if close:
            self._close_fds()

    def _pump(self, s, limit):
        """Reads what the pipe holds (at most `limit` bytes) and forwards it. Call with the send
        lock held. False at end of file."""
        total = 0
        while limit is None or total < limit:
            want = _PIPE_CHUNK if limit is None else min(_PIPE_CHUNK, limit - total)
            try:
                data = os.read(s.read_fd, want)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                s.open = False
                tail = s.decoder.decode(b"", final=True)
                if tail:
                    self._emit_output(s, tail, b"")
                return False
            total += len(data)
            self._emit_output(s, s.decoder.decode(data), data)
        return True

    def _emit_output(self, s, text, data):
        if self.channel.ok and self._live():
            if text:
                self.channel.send("print", {"input": s.name, "exc": False, "output": text})
            if self.tee and data:
                _write_all(s.saved, data)
        elif data:
            # Detached: the pipe may still get bytes from subprocesses; pass them to the real fd.
            try:
                os.write(s.saved, data)
            except OSError:
                pass

    def flush_streams(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        if self.libc_fflush is _MISSING:
            self.libc_fflush = None
            try:
                import ctypes
                self.libc_fflush = ctypes.CDLL(None).fflush
            except Exception:
                pass
        if self.libc_fflush is not None:
            try:
                self.libc_fflush(None)
            except Exception:
                pass

    def drain(self):
        """Forwards everything written to fds 1 and 2 so far. Flushing happens before taking the
        lock: a flush may block on a full pipe that only the forwarder (which needs the lock)
        empties."""
        if not self.streams:
            return
        self.flush_streams()
        try:
            import fcntl
            import termios
        except ImportError:
            fcntl = termios = None
        with self.channel.lock:
            for s in self.streams:
                if not s.open:
                    continue
                # Read only what is there now: a thread that keeps printing must not keep us here.
                limit = None
                if fcntl is not None:
                    try:
                        raw = fcntl.ioctl(s.read_fd, termios.FIONREAD, b"\0\0\0\0")
                        limit = struct.unpack("i", raw)[0]
                    except OSError:
                        limit = None
                if limit == 0:
                    continue
                self._pump(s, limit if limit is not None else 16 * _PIPE_CHUNK)

    def restore(self):
        """Puts the original fds 1 and 2 back (after forwarding what the pipes hold). An
        original whose reader is gone (a tracer killed with SIGKILL held the other end of the
        pipe) is replaced by /dev/null: the program's next print must not die of EPIPE."""
        self.drain()
        if self.tee and self._switch_back_in_order():
            return
        for s in self.streams:
            target = s.saved
            if _reader_gone(s.saved):
                try:
                    target = os.open(os.devnull, os.O_WRONLY)
                except OSError:
                    target = s.saved
            try:
                os.dup2(target, s.fd)
            except OSError:
                pass
            if target != s.saved:
                os.close(target)

    def _switch_back_in_order(self):
        """Tee mode (attached): fds 1 and 2 go back to the program's own files with nothing
        reordered. A thread writing between the switch and the forwarder's last read would put
        its text before what the pipe still held; so the switch and that last read are done
        holding the GIL (libc called through ctypes.PyDLL, which keeps it: no Python thread
        writes meanwhile) and the send lock (the forwarder is not between a read and its
        write). False when libc cannot be reached that way (then as without tee)."""
        try:
            import ctypes
            libc = ctypes.PyDLL(None)
            dup2, read, write = libc.dup2, libc.read, libc.write
            for f in (read, write):
                f.restype = ctypes.c_ssize_t
                f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
            dup2.argtypes = [ctypes.c_int, ctypes.c_int]
            buf = ctypes.create_string_buffer(_PIPE_CHUNK)
        except Exception:
            return False
        got = []
        with self.channel.lock:
            for s in self.streams:
                if dup2(s.saved, s.fd) < 0:
                    continue
                while s.open:
                    n = read(s.read_fd, buf, _PIPE_CHUNK)
                    if n <= 0:
                        break  # empty (EAGAIN), or its end
                    data = buf.raw[:n]
                    done = 0
                    while done < n:
                        w = write(s.saved, ctypes.byref(buf, done), n - done)
                        if w <= 0:
                            break
                        done += w
                    got.append((s, data))
            if self.channel.ok:
                for s, data in got:
                    text = s.decoder.decode(data)
                    if text:
                        self.channel.send("print", {"input": s.name, "exc": False,
                                                    "output": text})
        return True

    def unhook(self):
        """After `restore`, at a detach that leaves no trace: the program's own sys.stdout,
        sys.stderr and sys.stdin objects back where they are still qdb's, and the pipes' and
        saved fds closed once the forwarder has read the pipes to their end."""
        for attr, old, new in reversed(self._replaced):
            if getattr(sys, attr, None) is new:
                setattr(sys, attr, old)
        self._replaced = []
        if isinstance(sys.stdin, _StdinWatch):
            sys.stdin = sys.stdin._qdb_stream
        forwarder = self._forwarder
        if forwarder is not None and forwarder is not threading.current_thread():
            forwarder.join(0.5)  # it ends at the pipes' end of file (no writer left)
        # Closed here if the forwarder has ended, else by it as it ends (one or the other).
        with self._fds_lock:
            self._close_fds_at_end = True
            done = forwarder is None or self._forwarder_done
        if done:
            self._close_fds()

    def _close_fds(self):
        with self._fds_lock:
            streams, self.streams = self.streams, []
        for s in streams:
            for fd in (s.read_fd, s.saved):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def close_readers(self):
        """A forked child's copies of the pipes' reading ends, closed: a pipe nobody else reads
        must not keep a writer waiting."""
        for stream in self.streams:
            try:
                os.close(stream.read_fd)
            except OSError:
                pass
        self.streams = []

"""What the modules of the qdb bridge share: the Python version switches, the signal qdb uses,
the error a command fails with, and the set of the bridge's own files (never traced nor shown).
"""

import os
import signal
import sys

# The bridge's "not given" and "not known yet" (None is a value).
_MISSING = object()

_PY312 = sys.version_info >= (3, 12)
_PY313 = sys.version_info >= (3, 13)

# The signal qdb uses to interrupt the main thread (pause, eval timeout, retrace on 3.8-3.11).
# A handler the program installs for it later is chained (see install_signal_hooks).
PAUSE_SIGNAL = signal.SIGUSR2

# co_flags of frames whose return events are suspensions (as bdb's GENERATOR_AND_COROUTINE_FLAGS).
_GEN_FLAGS = 0x20 | 0x80 | 0x200

# The bridge's own files (each module's path as imported and absolute): never traced, stopped in
# or shown. qdb.py adds every module of the bridge once they are all imported.
_BRIDGE_FILES = {__file__, os.path.abspath(__file__)}

class _CommandError(Exception):
    """A command failed in a way the client should hear about: becomes an ``error`` event."""

    def __init__(self, type_, data):
        Exception.__init__(self, data if isinstance(data, str) else type_)
        self.type = type_
        self.data = data


# Where no source lives: files there are made by the kernel (a size of 0 that reads for ever,
# /proc/self/pagemap, /dev/zero) or are devices. Never read for a client, whatever the policy.
_UNREADABLE_ROOTS = ("/proc", "/sys", "/dev")

# Most bytes of one source file read for a client (`list`, `source`, `set_break`).
MAX_SOURCE_BYTES = 8 * 1024 * 1024


class SourceTooLarge(OSError):
    """A source file has more than the bytes asked for: its first part is in ``data``. An
    OSError, so that code that reports a file it cannot read reports this one too."""

    def __init__(self, data):
        import errno
        OSError.__init__(self, errno.EFBIG, "larger than %d bytes" % len(data))
        self.data = data


def read_source_bytes(path, limit=MAX_SOURCE_BYTES):
    """The bytes of a regular file outside /proc, /sys and /dev, read as bytes and bounded: at
    most ``limit`` (more raises SourceTooLarge holding the first ``limit``). Anything else
    raises OSError with a reason a client may read; nothing is read from it."""
    import errno
    import stat
    real = os.path.realpath(path)
    for root in _UNREADABLE_ROOTS:
        if real == root or real.startswith(root + os.sep):
            raise OSError(errno.EACCES, "not a source file (under %s)" % root)
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise SourceTooLarge(data[:limit])
    return data


class _Stop(object):
    """One stop of one thread: its frames (oldest first) and the selected one."""

    def __init__(self, ident, thread_name, frames, reason, post_mortem=False):
        self.ident = ident
        self.thread_name = thread_name
        self.frames = frames  # list of (frame, lineno)
        self.index = len(frames) - 1
        self.reason = reason
        self.breakpoint = None
        self.post_mortem = post_mortem
        self.exception = None  # payload of the exception event, resent on start
        self.exc_value = None  # the exception object itself, for exception_info
        self.locals_cache = {}
        self.depth = 0  # > 0: a stop inside the code of `debug` (pdb's recursive debugger)

    @property
    def frame(self):
        return self.frames[self.index][0]

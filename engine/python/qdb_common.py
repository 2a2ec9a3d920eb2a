"""What the modules of the qdb bridge share: the Python version switches, the signal qdb uses,
the error a command fails with, and the set of the bridge's own files (never traced nor shown).
"""

import os
import signal
import sys

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


def _strip_one_newline(text):
    return text[:-1] if text.endswith("\n") else text


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

    @property
    def frame(self):
        return self.frames[self.index][0]

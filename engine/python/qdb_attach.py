"""The qdb bridge coming up in a program that runs already (``qdb trace --pid``): the code gdb
puts in the process (engine/python/inject.ts, ``attach_code``) imports this module and calls
``main(BRIDGE_DIR, CONFIG_PATH)`` in the main thread.

``start`` is quick: it reads the configuration (the file is removed at once), makes the Bridge for
the program's ``__main__``, connects its channel, captures fds 1 and 2 from then on (their
output still reaches where it went before: the session gets a copy), installs the hooks (in the
main thread, where the pause signal's handler must be installed; the program's own handler of
that signal is chained) and starts the reader thread; the threads that already run are traced
through the tracing backends (3.9-3.11: qdb_threads' ThreadTracer; 3.12+: sys.monitoring).

A detach (``disable soft``, or the tracer gone) leaves no trace (``leave``): every hook is
taken out (the program's own objects put back where they are still qdb's), fds 1 and 2 and the
pause signal's handler are given back, trace functions and the monitoring tool id are released,
the bridge's threads end, its socket closes, and its modules leave ``sys.modules``, so that
attaching again starts afresh. What stays: one ``os.register_at_fork`` callback per attach (it
cannot be removed; it does nothing once detached) and, only while a frame still runs code a
breakpoint was compiled into (a minute at most), the hook's no-op names in builtins.

The exit code: a process qdb did not start cannot be waited for, so the bridge says how it ends
(``exiting``) when it knows: ``sys.exit(N)``, or an uncaught exception (1). A program that ends
by falling off its end or by ``raise SystemExit`` directly ends its session without it.

Standard library only.
"""

import json
import os
import sys
import threading

_BRIDGE_MODULES = ("qdb", "qdb_")
_UNHOOK_WAIT = 2.0  # seconds a detach waits for the main thread to give the signal back
_FORGET_EVERY_S = 0.2  # how often, after a detach, to look whether compiled code still runs
_FORGET_TRIES = 300


def main(bridge_dir, config_path):
    """What the injected code calls: attaches, or tells the tracer why not. Never raises into
    the program."""
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        # The tracer gave up (its configuration is gone): nothing to do, nothing left.
        _forget_modules(bridge_dir)
        return
    try:
        os.remove(config_path)
    except OSError:
        pass
    try:
        why = _refusal(bridge_dir)
        if why:
            _refuse(config, why)
            if getattr(sys.modules.get("qdb"), "_bridge", None) is None:
                _forget_modules(bridge_dir)  # no bridge of another attach uses them
            return
        sys.path.insert(0, bridge_dir)
        try:
            # The bridge's modules, imported from its directory (start() uses them).
            import importlib
            importlib.import_module("qdb")
            importlib.import_module("qdb_program")
        finally:
            sys.path.remove(bridge_dir)
        start(config)
    except BaseException as exc:  # never into the program
        import traceback
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _refuse(config, "qdb's bridge failed to start in the program: %s" % detail)
        bridge = getattr(sys.modules.get("qdb"), "_bridge", None)
        if bridge is not None and getattr(bridge, "_config", {}).get("attached"):
            try:
                bridge.detach("soft", None, notify=False)
            except BaseException:
                pass
        _forget_modules(bridge_dir)


def _refusal(bridge_dir):
    """Why the bridge cannot come up here (qdb is in the program already, or a trace function
    it would replace), or None."""
    traced = _tracer_in_use()
    if traced:
        return traced
    qdb = sys.modules.get("qdb")
    if qdb is None:
        return None
    if not hasattr(qdb, "Bridge") or not hasattr(qdb, "_bridge"):
        return "the program has a module of its own named qdb (%s)" % (
            getattr(qdb, "__file__", None) or "built in")
    bridge = qdb._bridge
    if bridge is not None and not bridge._detached:
        if bridge._config.get("attached"):
            return "qdb is attached to this process already (detach the other session first)"
        return "this process runs under qdb already (qdb trace): attach to its session"
    return None


def _tracer_in_use():
    """A trace function the program runs already (coverage, a profiler, another debugger):
    qdb's would replace it, so it does not attach."""
    gettrace = getattr(threading, "gettrace", None)
    for where, func in (("its main thread", sys.gettrace()),
                        ("threading.settrace", gettrace() if gettrace else
                         getattr(threading, "_trace_hook", None))):
        if func is not None:
            name = getattr(func, "__qualname__", None) or type(func).__name__
            module = getattr(func, "__module__", None) or type(func).__module__
            return ("the program runs a trace function already (%s.%s, set by %s: coverage, a "
                    "profiler or another debugger); qdb would replace it, so it does not "
                    "attach" % (module, name, where))
    return None


def _refuse(config, why):
    """Says `why` to the tracer as this bridge's only word: a hello that refuses."""
    import socket
    import struct
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(config["channel"])
            body = json.dumps({"e": "hello", "p": {
                "token": config.get("token"), "pid": os.getpid(), "refused": why}}).encode()
            sock.sendall(struct.pack(">I", len(body)) + body)
        finally:
            sock.close()
    except Exception:
        pass


def start(config):
    """Attaches the bridge to this process, as `config` says; returns the bridge."""
    import qdb
    import qdb_program
    from qdb_common import PAUSE_SIGNAL
    main_module = sys.modules.get("__main__")
    path = getattr(main_module, "__file__", None) or (
        sys.argv[0] if sys.argv and sys.argv[0] else "")
    program = os.path.realpath(path) if path and not path.startswith("<") else "<attached>"
    config = dict(config, attached=True, follow=False, program_arg=path or program)
    bridge = qdb.Bridge(config, program, {})
    bridge._main_globals = main_module.__dict__ if main_module is not None else None
    bridge._exit_code = None  # not known until the program says (see _watch_exit)
    qdb._bridge = bridge
    bridge.connect()
    bridge.output.tee = True
    bridge.output.capture()
    import signal
    # The program's own handler of the pause signal: called for the signals that are not qdb's,
    # and given back at detach.
    bridge.pauser._chained_handler = signal.getsignal(PAUSE_SIGNAL)
    bridge._saved_hooks = {"breakpointhook": sys.breakpointhook}
    qdb_program.install_hooks(bridge, qdb._breakpointhook)
    _watch_exit(bridge)
    bridge.start(config.get("breakpoints") or [])
    if config.get("stop_on_entry"):
        # `--stop`: the main thread stops at its next line of Python.
        bridge.pauser._request_pause(None)
    return bridge


def _watch_exit(bridge):
    """sys.exit and the last word of an uncaught exception tell the exit code."""
    real_exit = sys.exit
    real_hook = sys.excepthook

    def exit(*args):
        code = args[0] if args else None
        if threading.get_ident() == bridge._main_ident:
            bridge._exit_code = _code_of(code)
        return real_exit(*args)

    def excepthook(exc_type, value, tb):
        if threading.get_ident() == bridge._main_ident:
            bridge._exit_code = 1
        return real_hook(exc_type, value, tb)

    for name, hook, real in (("exit", exit, real_exit), ("excepthook", excepthook, real_hook)):
        hook.__name__ = name
        hook.__doc__ = real.__doc__
        hook.__wrapped__ = real
        hook._qdb_hook = True
        setattr(sys, name, hook)


def _code_of(code):
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    return 1


def _unwrap(owner, name):
    """Takes qdb's wrapper of ``owner.name`` out: the function it wraps is put back, unless
    someone wrapped qdb's in turn (then it stays, and does nothing once detached)."""
    value = getattr(owner, name, None)
    if getattr(value, "_qdb_hook", False) and hasattr(value, "__wrapped__"):
        setattr(owner, name, value.__wrapped__)


def leave(bridge):
    """Everything the bridge added to the process, taken out (see the module's docstring).
    Called by a detach (before it says `disabled`), in any thread; what only the main thread
    may do (the signal handler) is done there, at once or at its next instruction."""
    import qdb
    saved = getattr(bridge, "_saved_hooks", {})
    if sys.breakpointhook is qdb._breakpointhook and "breakpointhook" in saved:
        sys.breakpointhook = saved["breakpointhook"]
    _unwrap(threading, "excepthook")
    import signal
    for owner, name in ((sys, "exit"), (sys, "excepthook"), (os, "_exit"), (os, "abort"),
                        (os, "kill"), (signal, "raise_signal"), (os, "fork")):
        _unwrap(owner, name)
    import atexit
    atexit.unregister(bridge.at_exit)
    try:
        bridge.output.unhook()
    except Exception:
        pass
    _untrace_threads(bridge)
    try:
        bridge.evaluator.close()
    except Exception:
        pass
    _forget_hook_soon(bridge.breakpoints.sites.compiled)
    if threading.get_ident() == bridge._main_ident:
        bridge.pauser.uninstall_signal_hooks()
    else:
        # A signal the program gets before the main thread has its handler back could be taken
        # for qdb's: wait for it (a main thread in a long C call takes it later).
        bridge.pauser.unhook_from_main(_UNHOOK_WAIT)
    if qdb._bridge is bridge:
        qdb._bridge = None
    _forget_modules(os.path.dirname(os.path.abspath(__file__)))


def _forget_hook_soon(compiled):
    """The hook's names leave builtins now, or (a frame still runs code a breakpoint was
    compiled into: the thread stopped there when the tracer left, a loop in it) once no frame
    does, looked at by a thread of its own for a minute at most."""
    try:
        if compiled.forget_hook():
            return
    except Exception:
        return

    def later():
        import time
        for _ in range(_FORGET_TRIES):
            time.sleep(_FORGET_EVERY_S)
            try:
                if compiled.forget_hook():
                    return
            except Exception:
                return

    import qdb_threads
    qdb_threads.start_internal(later, "qdb-forget")


def _untrace_threads(bridge):
    """No thread keeps a trace function of qdb's (3.8-3.11): those it gave the threads that
    run are taken back (3.9-3.11, ThreadTracer), with their frames'; a thread that got one while
    it was attached drops it at its next call (the tracer removes itself once detached)."""
    tracer = getattr(bridge, "_thread_tracer", None)
    if tracer is None or not tracer.available:
        return
    me = threading.get_ident()
    others = set(t.ident for t in threading.enumerate()
                 if t.ident not in (me, bridge._main_ident) and t.ident not in bridge._internal)
    try:
        done = tracer.set_trace(others, None)
    except Exception:
        return
    frames = sys._current_frames()
    for ident in done:
        frame = frames.get(ident)
        while frame is not None:
            if frame.f_trace is not None and _is_ours(frame.f_trace):
                frame.f_trace = None
            frame = frame.f_back


def _is_ours(func):
    owner = getattr(func, "__self__", None)
    module = getattr(func, "__module__", None) or getattr(type(owner), "__module__", "")
    return isinstance(module, str) and module.startswith(_BRIDGE_MODULES)


def _forget_modules(bridge_dir):
    """The bridge's modules leave sys.modules (the objects live on while a thread of theirs
    finishes): a second attach imports them afresh."""
    where = os.path.abspath(bridge_dir)
    for name, module in list(sys.modules.items()):
        if not (name == "qdb" or name.startswith("qdb_")):
            continue
        path = getattr(module, "__file__", None)
        if path and os.path.dirname(os.path.abspath(path)) == where:
            sys.modules.pop(name, None)

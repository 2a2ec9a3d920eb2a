"""Running the program under the qdb bridge as ``python PROGRAM``, ``-m MODULE`` or ``-c CODE``
would: its ``__main__``, ``sys.path[0]`` and ``sys.argv``, its code, the hooks the bridge puts in
the interpreter, and its end (the exit status, an uncaught exception post mortem).
"""

import builtins
import os
import sys
import threading
import types

from qdb_common import _PY312


def trim_tb(tb, bridge):
    while tb is not None and bridge.code.is_ignored(tb.tb_frame):
        tb = tb.tb_next
    return tb


def cant_open(path, exc):
    sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                     % (sys.executable, path, exc.errno or 0, exc.strerror))
    sys.stderr.flush()


def install_hooks(bridge, breakpointhook):
    """What the bridge hooks in the interpreter: exits, input, forks, signals, breakpoint(),
    uncaught exceptions in threads, and (when following) the start of child processes."""
    if getattr(bridge, "_hooks_installed", False):
        return
    bridge._hooks_installed = True
    bridge.output.hook_exit(bridge._pid, bridge.children.on_exit)
    bridge.output.watch_stdin()
    import atexit
    atexit.register(bridge.at_exit)  # first registered, so it runs last
    os.register_at_fork(after_in_child=bridge.children.after_fork_in_child)
    bridge.pauser.install_signal_hooks()
    bridge.children.install_follow()
    bridge.children.hook_fork()
    sys.breakpointhook = breakpointhook

    orig_thread_hook = threading.excepthook

    def thread_excepthook(args):
        if args.exc_type is not SystemExit and args.exc_value is not None:
            try:
                bridge.post_mortem(args.exc_value, args.exc_traceback,
                                   args.thread.ident if args.thread else None)
            except Exception:
                pass
        return orig_thread_hook(args)

    thread_excepthook.__wrapped__ = orig_thread_hook
    thread_excepthook._qdb_hook = True
    threading.excepthook = thread_excepthook


def exit_code_of(exc):
    """The exit status a SystemExit gives the process."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    return 1


def program_of(config, argv):
    """What runs, as ``python PROGRAM``, ``-m MODULE`` or ``-c CODE`` would run it: (kind, its
    path, the module's spec and code for -m). ``argv`` becomes what the program sees."""
    program_arg = argv[0]
    kind = config.get("run", "file")
    if kind == "module":
        # As `python -m MODULE` does: the current directory first on the path, the module
        # found (its parent packages imported) before it runs as __main__.
        if not getattr(sys.flags, "safe_path", False):
            sys.path.insert(0, os.getcwd())
        import runpy
        try:
            _, module_spec, module_code = runpy._get_module_details(program_arg)
        except Exception as exc:
            sys.stderr.write("%s: %s\n" % (sys.executable, exc))
            raise SystemExit(1)
        argv[0] = module_spec.origin
        return kind, module_spec.origin, module_spec, module_code
    if kind == "code":
        argv[0] = "-c"
        return kind, "<string>", None, None
    return kind, os.path.abspath(program_arg), None, None


def connect(bridge, config, breakpointhook):
    """Connects the bridge to the tracer (a child through its own channel; a dormant one, a
    forkserver, not at all) and installs its hooks; whether it is attached."""
    attached = False
    if config.get("dormant"):
        pass
    elif config.get("child"):
        attached = bridge.connect_child()
    else:
        bridge.connect()
        bridge.output.capture()
        attached = True
    if attached or config.get("dormant"):
        install_hooks(bridge, breakpointhook)
    return attached


def set_path(kind, path):
    """sys.path[0] as python sets it: the program's directory, or the current one for -c."""
    if getattr(sys.flags, "safe_path", False):
        return
    if kind == "file":
        if sys.path and sys.path[0] in ("", "."):
            sys.path[0] = os.path.dirname(os.path.realpath(path))
        else:
            sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    elif kind == "code":
        if not sys.path or sys.path[0] not in ("", "."):
            sys.path.insert(0, "")


def main_module(kind, path, module_spec):
    """The program's own __main__, as python makes it for a file, -m or -c."""
    import importlib.machinery
    main_mod = types.ModuleType("__main__")
    if kind == "module":
        main_mod.__dict__.update({
            "__file__": path, "__builtins__": builtins, "__cached__": module_spec.cached,
            "__loader__": module_spec.loader, "__spec__": module_spec,
            "__package__": module_spec.parent,
        })
    elif kind == "code":
        main_mod.__dict__.update({
            "__builtins__": builtins, "__loader__": importlib.machinery.BuiltinImporter,
            "__spec__": None, "__package__": None,
        })
    else:
        main_mod.__dict__.update({
            "__file__": path, "__builtins__": builtins, "__cached__": None,
            "__loader__": importlib.machinery.SourceFileLoader("__main__", path),
            "__spec__": None, "__package__": None,
        })
    return main_mod


def program_code(kind, path, program_arg, module_code):
    """The program compiled (a file that cannot be read or compiled ends it, as python's)."""
    if kind == "module":
        return module_code
    if kind == "code":
        source = program_arg
    else:
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as exc:
            cant_open(path, exc)
            raise SystemExit(2)
    try:
        return compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        # As python shows it: no frame of qdb's above the program's line.
        exc.__traceback__ = None
        sys.excepthook(type(exc), exc, None)
        raise SystemExit(1)


def run(bridge, code, main_mod):
    """Runs the program; its uncaught exception stops post-mortem, then ends it as python's."""
    try:
        exec(code, main_mod.__dict__)
    except SystemExit as exc:
        sys.settrace(None)
        bridge._exit_code = exit_code_of(exc)
        raise
    except BaseException as exc:
        sys.settrace(None)
        bridge._exit_code = 1
        tb = trim_tb(exc.__traceback__, bridge)
        try:
            bridge.post_mortem(exc, tb)
        except Exception:
            pass
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        # The default hook prints exc.__traceback__, which still starts in the bridge.
        exc.__traceback__ = tb
        if _PY312:
            sys.last_exc = exc
        try:
            sys.excepthook(type(exc), exc, tb)
        except Exception:
            pass
        if isinstance(exc, KeyboardInterrupt):
            # Python ends with SIGINT after an uncaught KeyboardInterrupt; at_exit does that.
            bridge._exit_sigint = True
        raise SystemExit(1)
    finally:
        sys.settrace(None)
        bridge.tracing._steppers.pop(threading.get_ident(), None)
        bridge.tracing._stepping.discard(threading.get_ident())

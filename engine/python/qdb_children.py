"""Following child processes: each Python child of the program becomes a session of its own.

Two ways a child Python comes to be, two ways to follow it:

- **fork** (``os.fork``, multiprocessing's ``fork`` start method, the workers a ``forkserver``
  forks): the child is a copy of the parent, bridge included. An at-fork hook gives the copy a
  fresh state (its locks may have been held by threads that do not exist in the child), its own
  channel to the tracer, and the parent's breakpoints; the program goes on without noticing.
- **exec** of a Python interpreter (``subprocess`` and ``os.posix_spawn``, multiprocessing's
  ``spawn`` method and its forkserver process, ``os.exec*``): the command line is rewritten so that
  the interpreter first imports the bridge (from the same directory), with the configuration in
  ``QDB_BRIDGE`` as for the program itself, and the bridge then runs the script, module or code the
  command named, as that interpreter would have. A command qdb cannot read (an option it does not
  know, standard input as the program, ``-i``) runs untouched. Non-Python children run untouched.

A child runs until it hits a breakpoint: it does not stop on entry. It says whose child it is
(``child.parent``: the process id of the session that started it) in its ``hello``; the tracer
names its session after the parent's. multiprocessing's own helpers (the resource tracker) are not
followed; its forkserver is followed *dormant*: without a session of its own, so that what it
forks is followed as children of the program that started it.

What qdb adds to a child's environment (``QDB_BRIDGE``) is removed before the child's program
runs. On a Python too old for the bridge, the child runs its original command line instead.
"""

import json
import os
import re
import sys
import threading

from qdb_common import _PY312

# python, python3, python3.12, python3.12d, pythonw...
_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)*)?[a-z]?(\.exe)?$")
# Options of the interpreter that take no argument (combinable: -uB).
_FLAGS = set("bBdEIOqsSuvxP")
# Command lines of multiprocessing helpers that are not the program's code.
_UNFOLLOWED_CODE = ("from multiprocessing.resource_tracker import",
                    "from multiprocessing.semaphore_tracker import")
_DORMANT_CODE = ("from multiprocessing.forkserver import",)

def is_python(path):
    """Whether `path` names a Python interpreter (by its name, or being this one)."""
    try:
        name = os.path.basename(os.fsdecode(path))
    except Exception:
        return False
    if _PYTHON_NAME.match(name):
        return True
    try:
        return os.path.realpath(os.fsdecode(path)) == os.path.realpath(sys.executable)
    except Exception:
        return False


def split_python_argv(argv):
    """A Python command line as (options, kind, target, args): the interpreter's own options,
    then what it runs (`file`, `module` or `code`) and that program's arguments. None when qdb
    should not follow it: standard input or no program, help or version, an option qdb does not
    know, or `-i`."""
    options = []
    i = 1
    n = len(argv)
    while i < n:
        arg = argv[i]
        if not isinstance(arg, str):
            return None
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            if arg == "--check-hash-based-pycs" and i + 1 < n:
                options += argv[i:i + 2]
                i += 2
                continue
            if arg.startswith("--check-hash-based-pycs="):
                options.append(arg)
                i += 1
                continue
            return None  # --help, --version, or one this Python may not know
        if arg == "-" or not arg.startswith("-"):
            break
        j = 1
        while j < len(arg):
            c = arg[j]
            if c in "cm":
                if j + 1 < len(arg):
                    value, rest = arg[j + 1:], argv[i + 1:]
                elif i + 1 < n:
                    value, rest = argv[i + 1], argv[i + 2:]
                else:
                    return None
                if not isinstance(value, str):
                    return None
                if j > 1:
                    options.append(arg[:j])
                return options, ("code" if c == "c" else "module"), value, list(rest)
            if c in "WX":
                if j + 1 < len(arg):
                    options.append(arg)
                    i += 1
                elif i + 1 < n:
                    options += argv[i:i + 2]
                    i += 2
                else:
                    return None
                break
            if c not in _FLAGS:
                return None  # -h, -V, -i, or unknown
            j += 1
        else:
            options.append(arg)
            i += 1
    if i >= n or argv[i] == "-" or not isinstance(argv[i], str):
        return None
    return options, "file", argv[i], list(argv[i + 1:])


class Children(object):
    """The Bridge's following of child processes: the hooks on exec, spawn and fork, and the
    start of a forked child's own session. The hooks the program holds point at this object,
    which a forked child keeps."""

    def __init__(self, bridge):
        self._bridge = bridge
        self._follow_installed = False

    def follows(self):
        bridge = self._bridge
        return bool(bridge._config.get("follow")) and bool(bridge._config.get("channel"))

    def parent_pid(self):
        """The pid a child of this process names as its parent: this process, or (for a dormant
        forkserver) the session that started it."""
        bridge = self._bridge
        if bridge._config.get("dormant"):
            return (bridge._config.get("child") or {}).get("parent")
        return os.getpid()

    def bp_specs(self):
        """The breakpoints as set_break payloads (with their ids), for a child to start with."""
        bridge = self._bridge
        if not bridge._active:
            return list(bridge._config.get("breakpoints") or [])
        return bridge.breakpoints.specs()

    def _child_config(self, kind, target, argv, dormant=False):
        bridge = self._bridge
        return {
            "channel": bridge._config.get("channel"),
            "token": bridge._token,
            "child": {"parent": self.parent_pid()},
            "run": kind,
            "stop_on_entry": False,
            "eval_policy": bridge.evaluator.policy,
            "eval_timeout": bridge.evaluator.timeout,
            "breakpoints": self.bp_specs(),
            "break_on": bridge._break_on,
            "skip": list(bridge.code.skip),
            "follow": True,
            "bootstrap": bridge._config.get("bootstrap"),
            "dormant": dormant,
            "argv": list(argv),
        }

    def rewrite_exec(self, path, argv):
        """The command line (and the variable to add to its environment) that runs `argv` under
        the bridge, or None to run it untouched."""
        bridge = self._bridge
        if not self.follows() or bridge._detached or not is_python(path):
            return None
        try:
            text = [os.fsdecode(a) for a in argv]
        except Exception:
            return None
        split = split_python_argv(text)
        if split is None:
            return None
        options, kind, target, args = split
        dormant = False
        if kind == "code":
            head = target.lstrip()
            if head.startswith(_UNFOLLOWED_CODE):
                return None
            dormant = head.startswith(_DORMANT_CODE)
        # The engine's bootstrap (python_engine.ts): it runs the original command line on a
        # Python too old for the bridge.
        bootstrap = bridge._config.get("bootstrap")
        if not bootstrap:
            return None
        bridge_dir = os.path.dirname(os.path.abspath(__file__))  # the bridge's modules
        config = self._child_config(kind, target, text, dormant)
        new_argv = [text[0]] + options + ["-c", bootstrap, bridge_dir, target] + args
        return new_argv, json.dumps(config)

    def install_follow(self):
        """Rewrites the command lines of Python children (see the module's docstring)."""
        if not self.follows() or self._follow_installed:
            return
        self._follow_installed = True
        children = self

        def env_list(env, value):
            # _posixsubprocess takes the environment as a list of b"KEY=VALUE".
            if env is None:
                env = [k + b"=" + v for k, v in os.environb.items()]
            env = [e for e in env if not os.fsencode(e).startswith(b"QDB_BRIDGE=")]
            return env + [b"QDB_BRIDGE=" + value.encode("utf-8")]

        def env_map(env, value):
            env = dict(os.environ if env is None else env)
            env.pop("QDB_BRIDGE", None)
            env.pop(b"QDB_BRIDGE", None)
            env["QDB_BRIDGE"] = value
            return env

        def rewrite(path, argv):
            try:
                return children.rewrite_exec(path, argv)
            except Exception:
                return None  # never break the program's own subprocess

        try:
            import _posixsubprocess
        except ImportError:
            _posixsubprocess = None
        if _posixsubprocess is not None:
            real_fork_exec = _posixsubprocess.fork_exec

            def fork_exec(*args, **kws):
                # (args, executable_list, close_fds, pass_fds, cwd, env, ...) on 3.8 to 3.13.
                if len(args) > 5 and args[1]:
                    new = rewrite(args[1][0], args[0])
                    if new is not None:
                        args = list(args)
                        args[0] = new[0]
                        args[5] = env_list(args[5], new[1])
                return real_fork_exec(*args, **kws)

            fork_exec.__wrapped__ = real_fork_exec
            _posixsubprocess.fork_exec = fork_exec

        real_execve = os.execve

        def wrap_exec(name):
            real = getattr(os, name, None)
            if real is None:
                return
            replaces = name.startswith("exec")

            def hooked(path, argv, *rest, **kws):
                new = rewrite(path, argv)
                if replaces:
                    children.before_exec()
                if new is None:
                    return real(path, argv, *rest, **kws)
                if name == "execv":
                    # No environment given: the process's own, with the child's configuration.
                    return real_execve(path, new[0], env_map(None, new[1]))
                if rest:
                    env, rest = rest[0], rest[1:]
                else:
                    env = kws.pop("env", None)
                return real(path, new[0], env_map(env, new[1]), *rest, **kws)

            hooked.__name__ = name
            hooked.__doc__ = real.__doc__
            hooked.__wrapped__ = real
            setattr(os, name, hooked)

        for name in ("execv", "execve", "posix_spawn", "posix_spawnp"):
            wrap_exec(name)

    def hook_fork(self):
        """Python 3.12+ warns at os.fork() in a process with several threads: qdb's own threads
        must not make a program that has one thread see that warning. When the program has
        threads of its own, the warning is given as Python would, at the caller's line."""
        if sys.version_info < (3, 12) or getattr(os.fork, "_qdb", False):
            return
        import warnings
        real = os.fork

        def fork():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pid = real()
            if pid == 0:
                return pid
            mine = [t for t in threading.enumerate() if not getattr(t, "_qdb_internal", False)]
            caller = sys._getframe(1)
            for w in caught:
                if (len(mine) <= 1 and issubclass(w.category, DeprecationWarning)
                        and "multi-threaded" in str(w.message)):
                    continue
                warnings.warn_explicit(
                    w.message, w.category, caller.f_code.co_filename, caller.f_lineno,
                    module=caller.f_globals.get("__name__"),
                    registry=caller.f_globals.setdefault("__warningregistry__", {}))
            return pid

        fork.__doc__ = real.__doc__
        fork.__wrapped__ = real
        fork._qdb_hook = True
        fork._qdb = True
        os.fork = fork

    def before_exec(self):
        """The process image is about to be replaced: what the program wrote goes out first,
        and the session says how it ends."""
        bridge = self._bridge
        try:
            bridge.output.drain()
        except Exception:
            pass
        if bridge._config.get("child"):
            bridge._send("exiting", {"exec": True})

    def on_exit(self, code):
        """The process is ending with `code`: a child's session says so (the tracer cannot wait
        for a process it did not start)."""
        bridge = self._bridge
        if (bridge._config.get("child") or bridge._config.get("attached") and code is not None) \
                and os.getpid() == bridge._pid and bridge.channel.ok:
            bridge._send("exiting", {"code": code})

    def after_fork_in_child(self):
        """A forked child: followed with a fresh state and its own channel, or (not following)
        left untraced, never talking on the parent's channel."""
        bridge = self._bridge
        if self.follows() and (bridge._active or bridge._config.get("dormant")):
            try:
                self._become_fork_child()
                return
            except Exception:
                pass  # a child qdb cannot follow runs on untraced
        self._untrace_in_child()

    def _untrace_in_child(self):
        """A forked child that is not followed: no tracing, and never a word on the parent's
        channel (its copy of the socket is closed; closing a copy does not end the parent's)."""
        bridge = self._bridge
        bridge._active = False
        bridge._detached = True
        bridge.channel.ok = False
        self._close_inherited()
        bridge.pauser._holding = None
        bridge.pauser._gate = None
        bridge.pauser._held = {}
        sys.settrace(None)
        threading.settrace(None)
        if _PY312:
            bridge.tracing._mon_release()
        # The functions get their own code back (a followed child compiles its breakpoints
        # again, into the code as it finds it; one not followed runs untouched).
        bridge.breakpoints.sites.remove_all()

    def _close_inherited(self):
        """Closes this process's copies of the parent's channel and of the reading ends of its
        output pipes: the parent's end of the channel must see its end of file when the parent
        ends, and a pipe nobody else reads must not keep a writer waiting."""
        bridge = self._bridge
        bridge.channel.forget()
        bridge.output.close_readers()

    def _become_fork_child(self):
        """Starts over as a child session: the same object (every hook the program holds points
        at it), a fresh state, its own channel, the parent's breakpoints."""
        bridge = self._bridge
        parent = self.parent_pid()
        specs = self.bp_specs()
        self._untrace_in_child()
        keep = dict((k, bridge.__dict__[k]) for k in _KEEP_IN_FORK_CHILD if k in bridge.__dict__)
        hook = (bridge.evaluator.hook, bridge.evaluator.hook_error)
        real_import = bridge.breakpoints.real_import
        config = dict(bridge._config)
        config.update(child={"parent": parent}, dormant=False, stop_on_entry=False,
                      breakpoints=specs)
        bridge.__init__(config, bridge._program, bridge._boot_globals)
        bridge.__dict__.update(keep)
        # The program's hooks (os._exit, sys.stdin) hold the output capture: the same one, on
        # the child's own channel.
        bridge.output.channel = bridge.channel
        bridge.pauser.forget_holds()
        bridge.evaluator.hook, bridge.evaluator.hook_error = hook
        # The import hook stays installed: it asks the child's table (`current`).
        bridge.breakpoints.real_import = real_import
        # A dormant parent installed the bridge's hooks already (qdb._main): only the
        # channel and the breakpoints are new.
        if not bridge.connect_child():
            return
        bridge.start(specs)


# What a forked child keeps of its parent's bridge: the program's main module, and the objects
# the hooks the program holds point at (the output capture, the children's hooks, the pauser
# whose signal handler chains the program's own).
_KEEP_IN_FORK_CHILD = (
    "_main_globals", "_thread_tracer", "output", "children", "pauser", "_hooks_installed",
)

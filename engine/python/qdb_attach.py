"""The qdb bridge coming up in a program that runs already (issue 29): the code gdb puts in the
process (engine/python/inject.ts) imports this module and calls ``start(CONFIG_PATH)`` in the
main thread. Not yet used by ``qdb trace``: tested on its own (engine/python/attach_test.ts).

``start`` is quick: it reads the configuration (the file is removed at once), makes the Bridge for
the program's ``__main__``, connects its channel, captures fds 1 and 2 from then on, installs the
hooks (in the main thread, where the pause signal's handler must be installed) and starts the
reader thread; the threads that already run are traced through the tracing backends (3.9-3.11:
qdb_threads' ThreadTracer; 3.12+: sys.monitoring). ``disable soft`` gives fds 1 and 2 back and
turns tracing off, as for a program qdb started.

Standard library only.
"""

import json
import os
import sys


def start(config_path):
    """Attaches the bridge to this process, as the configuration at `config_path` says."""
    with open(config_path) as f:
        config = json.load(f)
    try:
        os.remove(config_path)
    except OSError:
        pass
    import qdb
    import qdb_program
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    program = os.path.realpath(path) if path and not path.startswith("<") else "<attached>"
    config["program_arg"] = path or program
    bridge = qdb.Bridge(config, program, {})
    bridge._main_globals = main.__dict__ if main is not None else None
    qdb._bridge = bridge
    bridge.connect()
    bridge.output.capture()
    qdb_program.install_hooks(bridge, qdb._breakpointhook)
    bridge.start(config.get("breakpoints") or [])
    return bridge

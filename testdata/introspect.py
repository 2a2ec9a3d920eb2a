import json
import os
import sys

print(json.dumps({
    "argv": sys.argv,
    "path0": sys.path[0],
    "name": __name__,
    "file": os.path.abspath(__file__),
    "main_file": os.path.abspath(sys.modules["__main__"].__file__),
    "bridge_env": os.environ.get("QDB_BRIDGE"),
    "qdb_module": "qdb" in sys.modules,
    "spec": __spec__ is None,
    "breakpointhook": sys.breakpointhook.__module__,
}))

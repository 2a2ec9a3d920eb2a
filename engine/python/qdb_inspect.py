"""Protocol 2's inspection requests, for the qdb bridge: threads, frames by id, scopes, values by
reference, paged children, structured evaluation, and the source of loaded files.

Frame ids and references are handed out at a stop and forgotten when the program resumes
(``reset``); they are never reused, so a stale one is refused instead of naming something else.
While the program is stopped the objects behind them are kept alive by the table, so the same
object always gets the same reference (an object that contains itself expands forever, one level
at a time, without growing the table).

Runs on Python 3.8+, standard library only, like the rest of the bridge.
"""

import hashlib
import itertools
import os
import sys
import threading
import types

from qdb_common import _BRIDGE_FILES, MAX_SOURCE_BYTES, SourceTooLarge, read_source_bytes

# Most references handed out between two resumes (each costs the program about 200 bytes): a
# client paging through millions of objects gets an error instead of growing the program's memory
# without end. Values without children (numbers, strings) take none.
MAX_REFS = 100000
# Longest value (a bounded repr) in a reply.
MAX_VALUE = 2000
# find_source: most paths answered, most directory entries looked at.
MAX_FOUND = 100
MAX_WALK = 20000
# Most children in one page.
MAX_PAGE = 1000

# Values shown whole, without children.
_LEAVES = (type(None), bool, int, float, complex, str, bytes, bytearray, range, type(Ellipsis),
           types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType)


class InspectError(Exception):
    """A request that cannot be answered: `type` is the protocol's error type."""

    def __init__(self, type_, data):
        Exception.__init__(self, data)
        self.type = type_
        self.data = data


class Inspector(object):
    """The ids and references of one stop, and the requests that read through them."""

    def __init__(self, bridge, own_files):
        self._bridge = bridge
        self._own_files = own_files  # the bridge's own source: never served
        self._lock = threading.Lock()
        self._next = 1
        self._frames = {}  # frame id -> (stop, frame, lineno)
        self._frame_ids = {}  # id(frame) -> frame id
        self._refs = {}  # ref -> ("scope", frame, kind) or ("value", obj)
        self._ref_ids = {}  # key -> ref
        # ref -> a dict's keys, taken at its first page far from the start (see _page)
        self._key_lists = {}
        self._loaded = {}  # module name -> (module, canonical file)

    def reset(self):
        """The program resumes: every frame id and reference handed out is void."""
        with self._lock:
            self._frames.clear()
            self._frame_ids.clear()
            self._refs.clear()
            self._ref_ids.clear()
            self._key_lists.clear()

    def _new_id(self):
        n = self._next
        self._next += 1
        return n

    # ------------------------------------------------------------------ threads and frames

    def threads(self, stop):
        internal = self._bridge._internal
        held = self._bridge.pauser._held
        out = []
        for t in threading.enumerate():
            if t.ident is None or t.ident in internal:
                continue
            stopped = stop is not None and (t.ident == stop.ident or t.ident in held)
            out.append({"id": t.ident, "name": t.name,
                        "state": "stopped" if stopped else "running"})
        return {"threads": out}

    def stack_trace(self, stop, args):
        thread = args["thread"]
        # The thread stopped here, or one its stop holds (all threads stop together); a thread
        # started without `threading` is not among its threads, but stops all the same.
        target = None
        if stop is not None:
            target = stop if thread == stop.ident else self._bridge.pauser._held.get(thread)
        names = dict((t.ident, t.name) for t in threading.enumerate())
        if target is None and (thread not in names or thread in self._bridge._internal):
            raise InspectError("thread", "No thread %s in the program" % thread)
        if stop is None:
            raise InspectError("thread", "Thread %s (%s) is running: its frames can be read when "
                               "the program stops (send pause first)" % (thread, names[thread]))
        if target is None:
            raise InspectError("thread", "Thread %s (%s) is running outside Python (in a call "
                               "such as sleep, I/O or a lock): it stops with the others when the "
                               "call returns" % (thread, names[thread]))
        frames = list(reversed(target.frames))  # newest first
        start = args.get("start", 0)
        levels = args.get("levels", MAX_PAGE)
        out = []
        for frame, lineno in frames[start:start + levels]:
            item = self._bridge._frame_payload(frame, lineno)
            item["id"] = self.frame_id(stop, frame)
            out.append(item)
        return {"frames": out, "total": len(frames)}

    def frame_id(self, stop, frame):
        """The id of a frame of this stop (the same one each time it is asked)."""
        with self._lock:
            known = self._frame_ids.get(id(frame))
            if known is not None:
                return known
            n = self._new_id()
            self._frames[n] = (stop, frame)
            self._frame_ids[id(frame)] = n
            return n

    def frame(self, stop, frame_id):
        """The frame behind an id handed out at this stop."""
        entry = self._frames.get(frame_id)
        if entry is None or stop is None or entry[0] is not stop:
            raise InspectError("reference", "No frame %s at this stop (frame ids last until the "
                               "program resumes; ask stack_trace for new ones)" % frame_id)
        return entry[1]

    # ------------------------------------------------------------------ scopes and values

    def scopes(self, stop, args):
        frame = self.frame(stop, args["frame"])
        out = []
        # The counts are those of what `variables` lists: one rule for both.
        if self._bridge.evaluator.frame_locals(frame) is not frame.f_globals:
            count = len(self._scope_children(stop, frame, "locals"))
            scope = self._scope("Locals", "locals", frame, count)
            # The parameters, in order (protocol 1's `args`, answered by qdb's core).
            code = frame.f_code
            n = code.co_argcount + code.co_kwonlyargcount
            n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
            scope["args"] = list(code.co_varnames[:n])
            out.append(scope)
            if frame.f_code.co_freevars:
                count = len(self._scope_children(stop, frame, "closure"))
                out.append(self._scope("Closure", "closure", frame, count))
        count = len(self._scope_children(stop, frame, "globals"))
        out.append(self._scope("Globals", "globals", frame, count))
        return {"scopes": out}

    def _scope(self, name, kind, frame, count):
        return {"name": name, "kind": kind, "ref": self._ref(("scope", id(frame), kind),
                                                             ("scope", frame, kind)),
                "named": count}

    def _ref(self, key, entry):
        with self._lock:
            known = self._ref_ids.get(key)
            if known is not None:
                return known
            if len(self._refs) >= MAX_REFS:
                raise InspectError("limit", "qdb handed out %d references at this stop, the "
                                   "most it keeps; resume to free them" % MAX_REFS)
            n = self._new_id()
            self._refs[n] = entry
            self._ref_ids[key] = n
            return n

    def value(self, obj):
        """A value as the protocol shows it: bounded repr, type, children and their counts."""
        named, indexed = _counts(obj)
        ref = 0
        if named or indexed:
            ref = self._ref(("value", id(obj)), ("value", obj))
        return {"value": self._repr(obj), "type": _type_name(obj), "ref": ref,
                "named": named, "indexed": indexed}

    def _repr(self, obj):
        text = self._bridge.reprs.short(obj)
        if len(text) > MAX_VALUE:
            text = text[:MAX_VALUE - 3] + "..."
        return text

    def variables(self, stop, args):
        ref = args["ref"]
        entry = self._refs.get(ref)
        if entry is None:
            raise InspectError("reference", "No variables reference %s at this stop (references "
                               "last until the program resumes)" % ref)
        start = args.get("start", 0)
        count = min(args.get("count", MAX_PAGE), MAX_PAGE)
        which = args.get("filter")
        if entry[0] == "scope":
            pairs = itertools.islice(self._scope_children(stop, entry[1], entry[2]),
                                     start, start + count)
        else:
            pairs = _page(entry[1], which, start, count, self._key_lists, ref)
        out = []
        for name, child in pairs:
            item = self.value(child)
            item["name"] = name
            out.append(item)
        return {"variables": out}

    def _scope_children(self, stop, frame, kind):
        """(name, value) of a scope's variables: globals without __builtins__, a nested
        function's free variables (closure), and its other locals."""
        if kind == "globals":
            return [(str(k), v) for k, v in _items(frame.f_globals) if k != "__builtins__"]
        free = set(frame.f_code.co_freevars)
        items = _items(self._bridge.evaluator.frame_locals(frame))
        if kind == "closure":
            return [(str(k), v) for k, v in items if k in free]
        return [(str(k), v) for k, v in items if k not in free]

    def assign(self, stop, ref, name, value, write_back):
        """Sets the child `name` of a reference (as `variables` named it) to `value`.
        `write_back(frame, space)` makes a change to a frame's locals stick."""
        entry = self._refs.get(ref)
        if entry is None:
            raise InspectError("reference", "No variables reference %s at this stop (references "
                               "last until the program resumes)" % ref)
        if entry[0] == "scope":
            frame, kind = entry[1], entry[2]
            if kind == "globals":
                frame.f_globals[name] = value
                return
            space = self._bridge.evaluator.frame_locals(frame)
            free = set(frame.f_code.co_freevars)
            if (kind == "closure") != (name in free) or name not in space:
                raise InspectError("reference", "No variable %r in %s" % (name, kind))
            space[name] = value
            write_back(frame, space)
            return
        obj = entry[1]
        if isinstance(obj, dict):
            for k in list(obj.keys()):
                if next(_dict_items([(k, None)]))[0] == name:
                    obj[k] = value
                    return
            raise InspectError("reference", "No key %s in this dict" % name)
        if name.startswith("[") and name.endswith("]") and name[1:-1].isdigit():
            if not isinstance(obj, list):
                raise InspectError("eval", "Cannot set %s: a %s cannot be changed in place"
                                   % (name, type(obj).__name__))
            try:
                obj[int(name[1:-1])] = value
            except IndexError:
                raise InspectError("reference", "No item %s" % name)
            return
        try:
            setattr(obj, name, value)
        except Exception as exc:
            raise InspectError("eval", "Cannot set %s: %s: %s" % (name, type(exc).__name__, exc))

    # ------------------------------------------------------------------ source

    def source(self, args):
        """The text of a file of the program's code: one it loaded, its own Python files (under
        its directory or sys.path: the bridge's `code.may_read`, without the shortcut of policy
        "full"), or code it runs that has no file (`<debug>`), kept in linecache. Any other path is refused alike, whether it exists or not. The core's
        `list` is this text, cut to lines."""
        path = args["path"]
        parts = path.replace("\\", "/").split("/")
        refused = InspectError("source", "Cannot read %s: no such file of the program's code"
                               % path)
        bridge = self._bridge
        if path.startswith("<") and path.endswith(">"):
            import linecache
            entry = linecache.cache.get(path)
            if not entry or not entry[2]:
                raise refused
            data = "".join(entry[2]).encode("utf-8", "replace")
            return {"path": path, "text": data.decode("utf-8"),
                    "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
        if not os.path.isabs(path) or ".." in parts:
            raise refused
        real = os.path.realpath(path)
        if real in _BRIDGE_FILES or bridge.code.file_skipped(real):
            raise refused
        if real not in self._loaded_files() and not bridge.code.may_read(real, False):
            raise refused
        try:
            data = read_source_bytes(real, MAX_SOURCE_BYTES)
        except SourceTooLarge:
            raise InspectError("source", "Cannot read %s: it is larger than %d bytes"
                               % (path, MAX_SOURCE_BYTES))
        except OSError as exc:
            raise InspectError("source", "Cannot read %s: %s" % (path, exc.strerror or exc))
        return {"path": path, "text": data.decode("utf-8", "replace"),
                "hash": "sha256:" + hashlib.sha256(data).hexdigest()}

    def find_source(self, args):
        """Paths that end with /TAIL: loaded code, and .py files under the main file's
        directory (a bounded walk; hidden directories and caches skipped)."""
        tail = "/" + args["tail"].replace("\\", "/").lstrip("/")
        found = sorted(p for p in self._loaded_files() if p.endswith(tail))
        program = self._bridge._program
        if program and not program.startswith("<") and tail.endswith(".py"):
            seen = 0
            stack = [os.path.dirname(program)]
            while stack and seen < MAX_WALK and len(found) < MAX_FOUND:
                top = stack.pop()
                try:
                    entries = list(os.scandir(top))
                except OSError:
                    continue
                for entry in entries:
                    seen += 1
                    if entry.name.startswith(".") or entry.name in ("__pycache__", "node_modules"):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.path.endswith(tail) and entry.path not in found:
                            found.append(entry.path)
                    except OSError:
                        continue
        return {"paths": found[:MAX_FOUND]}

    def _loaded_files(self):
        """Canonical paths of the program's code: its main file, the files of loaded modules,
        and the files of the frames of the current stop."""
        canon = self._bridge.code.canon
        files = set()
        program = self._bridge._program
        if program and not program.startswith("<"):
            files.add(program)
        for name, mod in list(sys.modules.items()):
            known = self._loaded.get(name)
            if known is not None and known[0] is mod:
                if known[1]:
                    files.add(known[1])
                continue
            f = getattr(mod, "__file__", None)
            path = None
            if isinstance(f, str) and f.endswith(".py"):
                path = canon(f)
            self._loaded[name] = (mod, path)
            if path:
                files.add(path)
        stop = self._bridge._stop
        if stop is not None:
            for frame, _ in stop.frames:
                name = frame.f_code.co_filename
                if not name.startswith("<"):
                    files.add(canon(name))
        return files - set(canon(f) for f in self._own_files)


def _items(space):
    try:
        return list(space.items())
    except Exception:
        return []


def _type_name(obj):
    t = type(obj)
    module = getattr(t, "__module__", "builtins")
    name = getattr(t, "__qualname__", t.__name__)
    return name if module in ("builtins", None) else "%s.%s" % (module, name)


def _attributes(obj):
    """An object's own attributes: its __dict__ and __slots__ (no properties: reading one runs
    code)."""
    names = []
    if isinstance(obj, BaseException):
        # An exception's arguments and chain are descriptors, not in its __dict__.
        names.append("args")
        for link in ("__cause__", "__context__"):
            if getattr(obj, link, None) is not None:
                names.append(link)
    try:
        d = object.__getattribute__(obj, "__dict__")
    except Exception:
        d = None
    if isinstance(d, (dict, types.MappingProxyType)):
        names.extend(d.keys())
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ()) if isinstance(klass, type) else ()
        if isinstance(slots, str):
            slots = (slots,)
        for s in slots:
            if s not in ("__dict__", "__weakref__") and s not in names:
                names.append(s)
    return names


def _counts(obj):
    """How many named and indexed children a value has (0, 0 for a leaf)."""
    if isinstance(obj, _LEAVES) and not _attributes_of_instance(obj):
        return 0, 0
    try:
        if isinstance(obj, dict):
            return len(obj), 0
        if _is_sequence(obj):
            return len(_attributes_of_instance(obj)), len(obj)
    except Exception:
        return 0, 0
    return len(_attributes(obj)), 0


def _attributes_of_instance(obj):
    """Attributes of an instance of a builtin type's subclass (a plain list has none)."""
    if type(obj).__module__ == "builtins":
        return []
    return _attributes(obj)


def _is_sequence(obj):
    return isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque"


# A dict's page this far from its start comes from a list of its keys, taken once per stop:
# skipping through a million entries costs tens of ms at every page, a list slice nothing.
_KEY_LIST_FROM = 10000


def _page(obj, which, start, count, key_lists=None, ref=None):
    """`count` (name, value) children of a value from `start`: named ones first (keys or
    attributes), then indexed ones (items). The cost is the page's, not the value's: a list is
    sliced, a set is skipped through in C, a big dict's keys are listed once per stop
    (`key_lists`, by `ref`) and then sliced."""
    out = []
    named_total = 0
    if which != "indexed":
        if isinstance(obj, dict):
            named_total = len(obj)
            out.extend(_dict_items(_dict_page(obj, start, count, key_lists, ref)))
        else:
            names = _attributes_of_instance(obj) if _is_sequence(obj) else _attributes(obj)
            named_total = len(names)
            out.extend(_attribute_items(obj, names[start:start + count]))
    left = count - len(out)
    if which == "named" or left <= 0 or isinstance(obj, dict) or not _is_sequence(obj):
        return out
    first = max(0, start - named_total)
    if isinstance(obj, (list, tuple)):
        items = obj[first:first + left]
    else:
        items = list(itertools.islice(iter(obj), first, first + left))
    out.extend(("[%d]" % (first + i), v) for i, v in enumerate(items))
    return out


# Keys whose hash and equality are the interpreter's own: looking them up runs no program code.
_PLAIN_KEYS = (str, int, float, bytes, bool, type(None))


def _dict_page(d, start, count, key_lists, ref, fresh=False):
    """(key, value) pairs of `d` from `start`, in its order. Far from the start of a plain
    dict, from its listed keys (looked up only when the page's keys are of builtin types, so
    that no __hash__ or __eq__ of the program runs); else by skipping through it."""
    skip = lambda: itertools.islice(d.items(), start, start + count)  # noqa: E731
    if key_lists is None or start < _KEY_LIST_FROM or type(d) is not dict:
        return skip()
    keys = key_lists.get(ref)
    if keys is None or len(keys) != len(d):
        # First page this far in, or the dict changed size (an eval at this stop): list again.
        keys = key_lists[ref] = list(d)
        fresh = True
    page = keys[start:start + count]
    if not all(type(k) in _PLAIN_KEYS for k in page):
        return skip()
    pairs = []
    for k in page:
        try:
            pairs.append((k, dict.__getitem__(d, k)))
        except KeyError:
            if fresh:
                return skip()
            # A key gone (replaced by an eval, same size): the listing is stale; list again.
            del key_lists[ref]
            return _dict_page(d, start, count, key_lists, ref)
    return pairs


def _dict_items(pairs):
    from reprlib import Repr
    r = Repr()
    r.maxstring = 200
    r.maxother = 200
    for k, v in pairs:
        yield (k if isinstance(k, str) else r.repr(k)), v


def _attribute_items(obj, names):
    try:
        d = object.__getattribute__(obj, "__dict__")
    except Exception:
        d = None
    for name in names:
        try:
            if isinstance(d, (dict, types.MappingProxyType)) and name in d:
                yield str(name), d[name]
            else:
                yield str(name), object.__getattribute__(obj, name)
        except Exception:
            continue

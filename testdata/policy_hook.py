"""Eval policy hooks used by the tests (imported from the program's sys.path)."""


def rewrite(code, where):
    # Every piece of code is replaced: clients only ever see this value.
    return "'rewritten:' + %r" % where


def deny(code, where):
    raise PermissionError("no code today (%s)" % where)


def only_names(code, where):
    return code.isidentifier()

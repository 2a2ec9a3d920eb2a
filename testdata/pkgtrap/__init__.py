# Importing this package is a side effect a breakpoint must never cause.
print("PKGTRAP IMPORTED")

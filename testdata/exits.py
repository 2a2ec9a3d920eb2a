import sys

how = sys.argv[1]
print("exits:", how)
if how == "code":
    sys.exit(3)
if how == "raise":
    raise ValueError("boom from exits")  # @raise
if how == "message":
    sys.exit("a message")

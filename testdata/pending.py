import os
import sys

# The module is found only once this directory is on the path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "later"))
import latemod  # noqa: E402

print(latemod.work(3))

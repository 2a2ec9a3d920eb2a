import os
import subprocess
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "basic"
if mode == "basic":
    sys.stdout.write("no newline")
    os.write(1, b" raw-fd1")
    sys.stderr.write("err no newline")
    os.write(2, b" raw-fd2\n")
    subprocess.run([sys.executable, "-c", "import sys; sys.stdout.write('from child')"])
    print()
    print("unicode \u00e9\u4e2d")
elif mode == "flood":
    n = int(sys.argv[2])
    for i in range(n):
        sys.stdout.write("%d," % i)
    sys.stderr.write("flood done")
elif mode == "detach":
    import time
    print("before", flush=True)  # @before_detach
    deadline = time.time() + 30
    while not os.path.exists(sys.argv[2]) and time.time() < deadline:
        time.sleep(0.01)
    print("after detach")
    sys.stderr.write("stderr after detach\n")
    sys.exit(4)
print("end of output.py")

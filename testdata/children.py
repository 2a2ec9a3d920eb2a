"""Child processes of every kind, for the child-session scenarios: `children.py MODE...` runs,
for each mode, one child (or a pool of two) that calls work(); the program prints what the
children returned and exits with code 7, so that a change to either shows."""
import os
import subprocess
import sys


def work(x):
    doubled = x * 2  # @work
    return doubled + 1


def late(x):
    tripled = x * 3  # @late
    return tripled


def main(mode):
    if mode in ("fork", "spawn", "forkserver"):
        import multiprocessing
        ctx = multiprocessing.get_context(mode)
        with ctx.Pool(2) as pool:
            print("results", pool.map(work, [10, 20]))
    elif mode == "executor":
        import concurrent.futures
        import multiprocessing
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn")) as ex:
            print("results", list(ex.map(work, [10, 20])))
    elif mode == "subprocess":
        done = subprocess.run([sys.executable, __file__, "child", "10"], capture_output=True,
                              text=True)
        print("child said", done.stdout.strip(), "and exited with", done.returncode)
    elif mode == "osfork":
        pid = os.fork()
        if pid == 0:
            os._exit(work(10))
        _, status = os.waitpid(pid, 0)
        print("child exited with", os.WEXITSTATUS(status))
    elif mode == "shell":
        done = subprocess.run("echo shell says $((6 * 7)); exit 5", shell=True,
                              capture_output=True, text=True)
        print("shell said", done.stdout.strip(), "and exited with", done.returncode)
    elif mode == "waiter":
        # Waits for its flag file, so that a breakpoint can be set while it runs.
        import time
        # Says it runs (under qdb, its session exists by then), then waits.
        open(sys.argv[2] + ".ready", "w").close()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.01)
        print("late", late(3))
        sys.exit(0)
    elif mode.startswith("live="):
        done = subprocess.run([sys.executable, __file__, "waiter", mode[5:]])
        print("waiter exited with", done.returncode)
    elif mode.startswith("orphan="):
        # A child that outlives the program (in a session of its own, as a daemon would be).
        import time
        subprocess.Popen([sys.executable, __file__, "waiter", mode[7:]], start_new_session=True)
        while not os.path.exists(mode[7:] + ".ready"):
            time.sleep(0.01)
    elif mode == "child":
        print("child result", work(int(sys.argv[2])))
        sys.exit(3)
    elif mode == "environ":
        print("QDB variables:", sorted(k for k in os.environ if k.startswith("QDB")))
        done = subprocess.run([sys.executable, "-c",
                               "import os; print(sorted(k for k in os.environ if 'QDB' in k))"],
                              capture_output=True, text=True)
        print("child sees:", done.stdout.strip())
        return 0
    return 7


if __name__ == "__main__":
    if sys.argv[1] in ("child", "waiter"):
        sys.exit(main(sys.argv[1]))
    code = 0
    for each in sys.argv[1:]:
        code = main(each)
    sys.exit(code)

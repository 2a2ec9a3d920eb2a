# A loop in main that is running when breakpoints are set (tests/python_compiled_test.ts): its
# frame runs the code from before the breakpoint (traced there), step() is called afresh
# (compiled). It ends when `stop` is set from the debugger.
import time

stop = False


def step(i):
    return i + 1  # @step


def cond_raises(i):
    return i  # @raises


def main():
    i = 0
    print("looping", flush=True)
    while not stop:
        i = step(i)  # @loop
        cond_raises(i)
        time.sleep(0.001)
    print("done", i > 0)


main()

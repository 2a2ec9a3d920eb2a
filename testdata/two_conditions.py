import threading

barrier = threading.Barrier(2)


def work(n):
    barrier.wait()
    value = n  # @cond_line
    return value


threads = [threading.Thread(target=work, args=(i,), name="w%d" % i) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("both done")

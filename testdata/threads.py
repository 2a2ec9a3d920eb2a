import threading

results = []


def work(n):
    value = n * n  # @work
    results.append(value)


t = threading.Thread(target=work, args=(7,), name="worker-7")
t.start()
t.join()
print("results", results)  # @after_join

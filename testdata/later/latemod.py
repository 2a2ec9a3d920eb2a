def work(n):
    return n * 2  # @work

import sys

counter = 0  # @counter


def helper(n):
    doubled = n * 2  # @helper_body
    return doubled  # @helper_return


def main():
    total = 0  # @main_first
    for i in range(10):  # @loop
        total += helper(i)  # @loop_body
    print("total", total)  # @print_total
    return total


result = main()  # @call_main
print("result", result)  # @print_result
sys.stdout.flush()

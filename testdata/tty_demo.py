import sys


def square(x):
    y = x * x
    return y


def spin():
    n = 0
    while True:
        n += 1


def main():
    total = 0
    for i in range(4):
        total += square(i)
    print("total is", total)
    data = {"items": list(range(40)), "name": "demo"}
    if "--spin" in sys.argv:
        spin()
    if "--crash" in sys.argv:
        return total / 0
    name = input("your name? ")
    print("hello", name)
    return data


main()

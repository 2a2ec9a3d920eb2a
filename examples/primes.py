import math

def is_prime(n):
    if n < 2:
        return False
    for d in range(2, math.isqrt(n) + 1):
        if n % d == 0:
            return False
    return True


def main(limit):
    found = 0
    for n in range(limit):
        if is_prime(n):
            print(n, end=" ")
            found += 1
    print()
    print(f"{found} primes below {limit}")


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)

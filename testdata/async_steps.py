import asyncio


async def fetch(n):
    await asyncio.sleep(0)  # @fetch_sleep
    return n + 1  # @fetch_return


async def main():
    a = await fetch(1)  # @main_a
    b = await fetch(a)  # @main_b
    total = a + b  # @main_total
    return total


print("async total", asyncio.run(main()))  # @run

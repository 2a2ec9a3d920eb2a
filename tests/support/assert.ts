/**
 * Assertions for tests, from Node's `node:assert/strict` (JSR's `@std/assert` is not reachable
 * here), with the names Deno users know.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts deep inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Asserts `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(text, pattern, message);
}

/** Asserts `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  assert(
    text.includes(part),
    message ?? `Expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts `fn` throws an error of class `type` whose message includes `includes`. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    assert(error instanceof type, `Expected ${type.name}, got ${String(error)}`);
    if (includes !== undefined) assertStringIncludes(error.message, includes);
    return error;
  }
  throw new nodeAssert.AssertionError({ message: `Expected ${type.name} to be thrown` });
}

/** Asserts the promise rejects with an error of class `type`. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert(error instanceof type, `Expected ${type.name}, got ${String(error)}`);
    if (includes !== undefined) assertStringIncludes(error.message, includes);
    return error;
  }
  throw new nodeAssert.AssertionError({ message: `Expected ${type.name} rejection` });
}

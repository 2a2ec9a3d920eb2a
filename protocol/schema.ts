/**
 * Tiny, dependency-free payload schemas with precise error messages.
 *
 * The protocol is public, so its validation must say exactly what is wrong:
 * `payload.line must be an integer >= 1, got "7"`. Each schema both checks
 * an unknown JSON value and describes itself for documentation.
 *
 * @example
 * ```ts
 * import { integer, object, string } from "./schema.ts";
 * const bp = object({ line: integer({ min: 1 }) }, { file: string() });
 * bp.check({ line: 3 }, "payload"); // { line: 3 }
 * ```
 * @module
 */

/** Thrown by {@linkcode Schema.check} when a value does not match. */
export class SchemaError extends TypeError {
  /** Where in the value the problem is, such as `payload.line`. */
  readonly path: string;
  /** True when the value was of the wrong kind (rather than breaking a specific rule). */
  readonly wrongKind: boolean;
  constructor(path: string, message: string, wrongKind = false) {
    super(message);
    this.name = "SchemaError";
    this.path = path;
    this.wrongKind = wrongKind;
  }
}

/** A check of an unknown JSON value that returns it typed, or throws {@linkcode SchemaError}. */
export interface Schema<T> {
  /** What the value must be, in words: "an integer >= 1". */
  readonly description: string;
  /** Returns the value typed (optional fields that were `null` are dropped), or throws. */
  check(value: unknown, path: string): T;
  /** True when `null` is a meaningful value here rather than "absent". */
  readonly acceptsNull?: boolean;
}

/** The type a schema checks for. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

const MAX_SHOWN = 60;

/**
 * A short, JSON-like rendering of a bad value for an error message. Its cost is bounded by
 * what it shows, not by the value: a 4 MiB string or array is never serialised whole.
 */
export function showValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const parts: string[] = [];
  let length = 0;
  const put = (text: string): boolean => {
    parts.push(text);
    length += text.length;
    return length <= MAX_SHOWN;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (typeof v === "string") {
      return put(JSON.stringify(v.length > MAX_SHOWN ? v.slice(0, MAX_SHOWN + 1) : v));
    }
    if (typeof v !== "object" || v === null) return put(String(JSON.stringify(v) ?? String(v)));
    if (depth > 8) return put("...");
    const isArray = Array.isArray(v);
    if (!put(isArray ? "[" : "{")) return false;
    let first = true;
    if (isArray) {
      for (const item of v) {
        if (!first && !put(",")) return false;
        first = false;
        if (!walk(item, depth + 1)) return false;
      }
    } else {
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        if (!first && !put(",")) return false;
        first = false;
        if (!put(`${JSON.stringify(key.slice(0, MAX_SHOWN + 1))}:`)) return false;
        if (!walk((v as Record<string, unknown>)[key], depth + 1)) return false;
      }
    }
    return put(isArray ? "]" : "}");
  };
  walk(value, 0);
  const text = parts.join("");
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text;
}

function fail(path: string, description: string, value: unknown): never {
  throw new SchemaError(path, `${path} must be ${description}, got ${showValue(value)}`, true);
}

/** Options of {@linkcode string}. */
export interface StringOptions {
  /** Refuse the empty string. */
  nonEmpty?: boolean;
  /** Longest accepted length in UTF-16 code units. */
  maxLength?: number;
}

/** A string, optionally non-empty and bounded. */
export function string(options: StringOptions = {}): Schema<string> {
  const parts = ["a string"];
  if (options.nonEmpty) parts[0] = "a non-empty string";
  if (options.maxLength !== undefined) parts.push(`of at most ${options.maxLength} characters`);
  const description = parts.join(" ");
  return {
    description,
    check(value, path) {
      if (typeof value !== "string") fail(path, description, value);
      if (options.nonEmpty && value.length === 0) fail(path, description, value);
      if (options.maxLength !== undefined && value.length > options.maxLength) {
        throw new SchemaError(
          path,
          `${path} must be ${description}, got one of ${value.length} characters`,
        );
      }
      return value;
    },
  };
}

/** Options of {@linkcode integer}. */
export interface IntegerOptions {
  /** Smallest accepted value. */
  min?: number;
  /** Largest accepted value. */
  max?: number;
}

/** A safe integer, optionally bounded. */
export function integer(options: IntegerOptions = {}): Schema<number> {
  let description = "an integer";
  if (options.min !== undefined && options.max !== undefined) {
    description += ` from ${options.min} to ${options.max}`;
  } else if (options.min !== undefined) description += ` >= ${options.min}`;
  else if (options.max !== undefined) description += ` <= ${options.max}`;
  return {
    description,
    check(value, path) {
      if (typeof value !== "number" || !Number.isSafeInteger(value)) fail(path, description, value);
      if (options.min !== undefined && value < options.min) fail(path, description, value);
      if (options.max !== undefined && value > options.max) fail(path, description, value);
      return value;
    },
  };
}

/** A finite number. */
export function number(): Schema<number> {
  const description = "a number";
  return {
    description,
    check(value, path) {
      if (typeof value !== "number" || !Number.isFinite(value)) fail(path, description, value);
      return value;
    },
  };
}

/** `true` or `false`. */
export function boolean(): Schema<boolean> {
  const description = "true or false";
  return {
    description,
    check(value, path) {
      if (typeof value !== "boolean") fail(path, description, value);
      return value;
    },
  };
}

/** One of a fixed set of strings. */
export function literal<const T extends string>(...values: T[]): Schema<T> {
  const description = values.length === 1
    ? JSON.stringify(values[0])
    : `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  return {
    description,
    check(value, path) {
      if (typeof value !== "string" || !(values as string[]).includes(value)) {
        fail(path, description, value);
      }
      return value as T;
    },
  };
}

/** Options of {@linkcode array}. */
export interface ArrayOptions {
  /** Most items accepted. */
  maxItems?: number;
}

/** An array whose every item matches `item`. */
export function array<T>(item: Schema<T>, options: ArrayOptions = {}): Schema<T[]> {
  let description = `an array of ${plural(item.description)}`;
  if (options.maxItems !== undefined) description += ` (at most ${options.maxItems})`;
  return {
    description,
    check(value, path) {
      if (!Array.isArray(value)) fail(path, description, value);
      if (options.maxItems !== undefined && value.length > options.maxItems) {
        throw new SchemaError(
          path,
          `${path} must have at most ${options.maxItems} items, got ${value.length}`,
        );
      }
      return value.map((v, i) => item.check(v, `${path}[${i}]`));
    },
  };
}

/** A JSON object whose values all match `value` (a dictionary). */
export function record<T>(value: Schema<T>): Schema<Record<string, T>> {
  const description = `an object of ${plural(value.description)}`;
  return {
    description,
    check(input, path) {
      if (!isPlainObject(input)) fail(path, description, input);
      const out: Record<string, T> = {};
      for (const [k, v] of Object.entries(input)) {
        // A plain assignment to "__proto__" would set the prototype instead of a field.
        Object.defineProperty(out, k, {
          value: value.check(v, `${path}.${k}`),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    },
  };
}

/** Any JSON value, passed through unchecked. */
export function any(): Schema<unknown> {
  return { description: "any JSON value", check: (value) => value };
}

/** `null`, or a value matching `schema`. */
export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  const description = `${schema.description} or null`;
  return {
    description,
    acceptsNull: true,
    check(value, path) {
      return value === null ? null : schema.check(value, path);
    },
  };
}

/** A value matching the first of `schemas` whose JSON kind (string, number, object...) fits. */
export function union<T extends Schema<unknown>[]>(...schemas: T): Schema<Infer<T[number]>> {
  const description = schemas.map((s) => s.description).join(" or ");
  return {
    description,
    check(value, path) {
      for (const schema of schemas) {
        try {
          return schema.check(value, path) as Infer<T[number]>;
        } catch (error) {
          if (!(error instanceof SchemaError)) throw error;
          // A mismatch deeper than the top level, or of a specific rule, is the most precise
          // thing to report.
          if (error.path !== path || !error.wrongKind) throw error;
        }
      }
      fail(path, description, value);
    },
  };
}

/** No payload: the field must be absent or `null`. */
export function none(): Schema<undefined> {
  const description = "absent (this event takes no payload)";
  return {
    description,
    check(value, path) {
      if (value !== undefined && value !== null) fail(path, description, value);
      return undefined;
    },
  };
}

/** A payload that may be absent (`undefined`), or else must match `schema`. */
export function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  const description = `${schema.description}, or absent`;
  return {
    description,
    check(value, path) {
      if (value === undefined || value === null) return undefined;
      try {
        return schema.check(value, path);
      } catch (error) {
        // Say "or absent" when the whole payload is wrong; deeper errors are precise already.
        if (error instanceof SchemaError && error.wrongKind && error.path === path) {
          fail(path, description, value);
        }
        throw error;
      }
    },
  };
}

type Shape = Record<string, Schema<unknown>>;

/** The type an object schema checks for: required keys, then optional ones. */
export type ObjectOf<R extends Shape, O extends Shape> =
  & { [K in keyof R]: Infer<R[K]> }
  & { [K in keyof O]?: Infer<O[K]> };

/**
 * A JSON object with `required` and `optional` fields. Unknown fields are refused so that a
 * misspelt field (`"lnie"`) is reported instead of silently ignored; an optional field that is
 * `null` counts as absent.
 */
export function object<R extends Shape, O extends Shape = Record<never, never>>(
  required: R,
  optional?: O,
): Schema<ObjectOf<R, O>> {
  const opt: Shape = optional ?? {};
  const fields = [
    ...Object.keys(required),
    ...Object.keys(opt).map((k) => `${k}?`),
  ];
  const description = fields.length ? `an object {${fields.join(", ")}}` : "an object";
  return {
    description,
    check(value, path) {
      if (!isPlainObject(value)) fail(path, description, value);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        // Own fields only: `"toString"` or `"__proto__"` is no field of ours.
        if (!Object.hasOwn(required, key) && !Object.hasOwn(opt, key)) {
          const known = fields.join(", ") || "none";
          throw new SchemaError(
            `${path}.${key}`,
            `${path} has an unknown field ${JSON.stringify(key)} (known fields: ${known})`,
          );
        }
      }
      for (const [key, schema] of Object.entries(required)) {
        if (!Object.hasOwn(value, key) || value[key] === undefined) {
          throw new SchemaError(
            `${path}.${key}`,
            `${path}.${key} is required and must be ${schema.description}`,
          );
        }
        out[key] = schema.check(value[key], `${path}.${key}`);
      }
      for (const [key, schema] of Object.entries(opt)) {
        const field = value[key];
        if (field === undefined) continue;
        // `null` means "absent" unless the field's own schema gives null a meaning.
        if (field === null && !schema.acceptsNull) continue;
        out[key] = schema.check(field, `${path}.${key}`);
      }
      return out as ObjectOf<R, O>;
    },
  };
}

/**
 * An object from a peer whose protocol is not ours (V8's inspector): the fields named are
 * checked and kept, the others ignored (its messages carry many more than a reader uses).
 */
export function loose<R extends Shape, O extends Shape = Record<never, never>>(
  required: R,
  optional?: O,
): Schema<ObjectOf<R, O>> {
  const strict = object(required, optional);
  const known = new Set([...Object.keys(required), ...Object.keys(optional ?? {})]);
  return {
    description: strict.description,
    check(value, path) {
      if (!isPlainObject(value)) return strict.check(value, path);
      const picked: Record<string, unknown> = {};
      for (const key of Object.keys(value)) if (known.has(key)) picked[key] = value[key];
      return strict.check(picked, path);
    },
  };
}

/** Adds a check that runs after `schema` accepted the value (for rules across fields). */
export function refine<T>(
  schema: Schema<T>,
  rule: (value: T, path: string) => string | undefined,
): Schema<T> {
  return {
    description: schema.description,
    check(value, path) {
      const checked = schema.check(value, path);
      const problem = rule(checked, path);
      if (problem !== undefined) throw new SchemaError(path, problem);
      return checked;
    },
  };
}

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function plural(description: string): string {
  // "a string" -> "strings"; good enough for our own descriptions.
  const bare = description.replace(/^(a|an) /, "");
  if (bare.startsWith("object {") || bare.includes(" ")) return `items that are ${description}`;
  return `${bare}s`;
}

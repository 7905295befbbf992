// The error catalogue: every error class of src/ and plugins/ in src/lib/errors.ts, under the one base, one class per code.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as errors from "../../src/lib/errors.ts";
import { ROOT } from "../helpers.ts";

/** The browser module's own errors: they live in the page's module, beside the link() that throws them. */
const PAGE_MODULE_ERRORS = new Set([
  "src/client/browser/index.ts:LinkError",
  "src/client/browser/api.ts:ServerCallError",
]);

function sources(folder: string, found: string[] = []): string[] {
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) sources(path, found);
    else if (name.endsWith(".ts")) found.push(path);
  }
  return found;
}

/** Every class in the catalogue, made with a message (and what else its constructor needs). */
function instances(): errors.PkipcError[] {
  const made: errors.PkipcError[] = [];
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== "function" || !(value.prototype instanceof errors.PkipcError)) continue;
    if (name === "ApiError") made.push(new errors.ApiError("FROM_SERVER", 418, "m"));
    else if (name === "UnauthorizedError") made.push(new errors.UnauthorizedError("BAD_SIGNATURE", "m"));
    else if (name === "RateLimitError") made.push(new errors.RateLimitError("m", 1));
    else made.push(new (value as new (message: string) => errors.PkipcError)("m"));
  }
  return made;
}

test("no error class is declared outside the catalogue", () => {
  const outside: string[] = [];
  for (const file of [...sources(join(ROOT, "src")), ...sources(join(ROOT, "plugins"))]) {
    const path = relative(ROOT, file).split("\\").join("/");
    if (path === "src/lib/errors.ts") continue;
    for (const match of readFileSync(file, "utf8").matchAll(/class (\w+) extends (\w*Error)\b/g)) {
      if (!PAGE_MODULE_ERRORS.has(`${path}:${match[1]}`)) outside.push(`${path}: ${match[1]} extends ${match[2]}`);
    }
  }
  expect(outside).toEqual([]);
});

test("every class of the catalogue extends the base and has a code of its own", () => {
  const made = instances();
  expect(made.length).toBeGreaterThanOrEqual(25);
  const byCode = new Map<string, string[]>();
  for (const error of made) {
    expect(error).toBeInstanceOf(errors.PkipcError);
    expect(error.code).toMatch(/^[A-Z][A-Z_]*$/);
    expect(error.status).toBeGreaterThanOrEqual(400);
    expect(error.name).toBe(error.constructor.name);
    byCode.set(error.code, [...(byCode.get(error.code) ?? []), error.name]);
  }
  const shared = [...byCode]
    .filter(([, names]) => names.length > 1)
    .map(([code, names]) => `${code}: ${names.join(", ")}`);
  expect(shared).toEqual([]);
});

test("the HTTP statuses the server answers with", () => {
  const status = Object.fromEntries(instances().map((error) => [error.name, error.status]));
  expect(status).toMatchObject({
    InvalidInputError: 400,
    ConfigError: 400,
    DecodeError: 400,
    TooManyCompletionsError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    UnsafePathError: 403,
    NotFoundError: 404,
    SessionEndedError: 410,
    UnsupportedMediaTypeError: 415,
    RateLimitError: 429,
    NetworkError: 502,
    ResponseTooLargeError: 502,
    CapacityError: 503,
    StoreUnavailableError: 503,
    HandlerDeadlineError: 504,
  });
});

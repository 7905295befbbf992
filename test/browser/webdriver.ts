// A small W3C WebDriver client over fetch (the commands the WebKit tests use), every call with a deadline.

/** A WebDriver command that failed: the endpoint's error code (e.g. "no such window") and message, or a network failure. */
export class WebDriverError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WebDriverError";
    this.code = code;
  }
}

/** What a script run in the page returned, or the error it threw, as plain data. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: string };

export interface WebDriverSession {
  readonly id: string;
  /** The capabilities the driver answered with (browserName, browserVersion, ...). */
  readonly capabilities: Record<string, unknown>;
  /** Navigates the current tab and waits for the page to load. */
  goto(url: string, timeoutMs?: number): Promise<void>;
  /**
   * Runs `fn(...args)` in the current tab and resolves with what its promise resolves to; `fn` is sent
   * as source text, so it may use only its arguments and the page's globals. A throw in the page rejects.
   */
  evaluate<A extends unknown[], T>(
    fn: (...args: A) => T | Promise<T>,
    args: A,
    timeoutMs?: number,
  ): Promise<Awaited<T>>;
  /** Opens a new tab (or window, where tabs are not supported) and returns its handle; the current tab does not change. */
  newTab(): Promise<string>;
  /** The handle of the current tab. */
  currentTab(): Promise<string>;
  /** Makes `handle` the tab later commands act on. */
  switchTo(handle: string): Promise<void>;
  /** A PNG of the current tab. */
  screenshot(): Promise<Uint8Array>;
  /** Ends the session (the driver closes the browser); never throws. */
  close(): Promise<void>;
}

/** Default deadline of one command, in ms. */
const COMMAND_TIMEOUT_MS = 30_000;
/** Longest answer body read from the driver (a screenshot of a small window is well below). */
const MAX_BODY = 32 * 1024 * 1024;

/** Sends one command to the WebDriver endpoint at `base` and returns its `value`. */
export async function command(
  base: string,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
  timeoutMs = COMMAND_TIMEOUT_MS,
): Promise<any> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new WebDriverError("network", `WebDriver ${method} ${base}${path} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const text = await response.text();
  if (text.length > MAX_BODY)
    throw new WebDriverError("too large", `WebDriver ${method} ${path} answered ${text.length} bytes`);
  let parsed: { value?: any };
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WebDriverError(
      "bad answer",
      `WebDriver ${method} ${path} answered HTTP ${response.status} that is not JSON: ${text.slice(0, 200)}`,
      { cause: error },
    );
  }
  const value = parsed.value;
  if (!response.ok || (value && typeof value === "object" && typeof value.error === "string")) {
    throw new WebDriverError(
      value?.error ?? `http ${response.status}`,
      `WebDriver ${method} ${path}: ${value?.error ?? response.status}: ${value?.message ?? text.slice(0, 200)}`,
    );
  }
  return value;
}

/** Waits until the endpoint at `base` answers /status ready, or throws after `timeoutMs`. */
export async function waitReady(base: string, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < end) {
    if (!isAlive()) throw new WebDriverError("exited", `the WebDriver at ${base} exited before it was ready (${last})`);
    try {
      const status = await command(base, "GET", "/status", undefined, 1_000);
      if (status?.ready) return;
      last = JSON.stringify(status);
    } catch (error) {
      last = (error as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new WebDriverError("timeout", `the WebDriver at ${base} was not ready within ${timeoutMs} ms: ${last}`);
}

/** Opens a session on the endpoint at `base` with `capabilities` (alwaysMatch). */
export async function newSession(
  base: string,
  capabilities: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<WebDriverSession> {
  const created = await command(base, "POST", "/session", { capabilities: { alwaysMatch: capabilities } }, timeoutMs);
  const id = String(created.sessionId);
  const at = (path: string) => `/session/${id}${path}`;
  let closed = false;
  return {
    id,
    capabilities: created.capabilities ?? {},
    async goto(url, navTimeoutMs = COMMAND_TIMEOUT_MS) {
      await command(base, "POST", at("/url"), { url }, navTimeoutMs);
    },
    async evaluate(fn, args, scriptTimeoutMs = COMMAND_TIMEOUT_MS) {
      await command(base, "POST", at("/timeouts"), { script: scriptTimeoutMs });
      // Settle in the page so a rejection arrives as data (a driver's "javascript error" loses the message).
      const script = `const done = arguments[arguments.length - 1];
        Promise.resolve().then(() => (${fn.toString()}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
          .then((value) => done({ ok: true, value }), (e) => done({ ok: false, error: String((e && e.message) || e) }));`;
      const settled = (await command(
        base,
        "POST",
        at("/execute/async"),
        { script, args },
        scriptTimeoutMs + 5_000,
      )) as Settled<any>;
      if (!settled.ok) throw new WebDriverError("javascript error", `the page threw: ${settled.error}`);
      return settled.value;
    },
    async newTab() {
      const opened = await command(base, "POST", at("/window/new"), { type: "tab" });
      return String(opened.handle);
    },
    async currentTab() {
      return String(await command(base, "GET", at("/window")));
    },
    async switchTo(handle) {
      await command(base, "POST", at("/window"), { handle });
    },
    async screenshot() {
      return Buffer.from(String(await command(base, "GET", at("/screenshot"))), "base64");
    },
    async close() {
      if (closed) return;
      closed = true;
      await command(base, "DELETE", at(""), undefined, 10_000).catch(() => {});
    },
  };
}

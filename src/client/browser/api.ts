// The few server calls the browser module makes, JSON over fetch as CORS "simple" requests (no preflight).
import type { ServiceConfig, SessionOffer, SessionStatus } from "../../protocol/schemas.ts";

/** The server could not be reached or answered an error. */
export class ServerCallError extends Error {
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ServerCallError";
    this.status = status;
  }
}

async function call<T>(method: string, url: URL, signal: AbortSignal, check: (v: any) => boolean): Promise<T> {
  let response: Response;
  let body: any;
  try {
    // No content-type and no custom header: the request stays "simple", so CORS needs no preflight.
    response = await fetch(url, { method, signal, credentials: "omit", headers: { accept: "application/json" } });
    body = await response.json();
  } catch (error) {
    if (signal.aborted) throw signal.reason ?? error;
    throw new ServerCallError(`${method} ${url.origin}${url.pathname} failed: ${(error as Error).message}`, 0, { cause: error });
  }
  if (!response.ok) {
    const message = body?.error?.message ?? `answered ${response.status}`;
    throw new ServerCallError(`${method} ${url.pathname}: ${message}`, response.status);
  }
  // The server validated it against the TypeBox schema; a light check keeps the module small.
  if (!check(body)) throw new ServerCallError(`${url.pathname} answered something unexpected`, response.status);
  return body as T;
}

/** A client for the pkipc server at `base`. */
export function browserApi(base: string | URL) {
  const root = new URL(base);
  return {
    origin: root.origin,
    config: (signal: AbortSignal) =>
      call<ServiceConfig>("GET", new URL("/v1/config", root), signal, (v) => typeof v?.range?.start === "number"),
    createSession: (signal: AbortSignal) =>
      call<SessionOffer>("POST", new URL("/v1/sessions", root), signal, (v) => typeof v?.id === "string" && Array.isArray(v.tuples)),
    status: (id: string, wait: { seconds: number; since: number } | undefined, signal: AbortSignal) => {
      const url = new URL(`/v1/sessions/${encodeURIComponent(id)}`, root);
      if (wait) url.search = `wait=${wait.seconds}&since=${wait.since}`;
      return call<SessionStatus>("GET", url, signal, (v) => typeof v?.state === "string" && typeof v.version === "number");
    },
  };
}

export type BrowserApi = ReturnType<typeof browserApi>;

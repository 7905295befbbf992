// The few server calls the browser module makes, JSON over fetch as CORS "simple" requests (no preflight).
import { apiRoot, apiUrl } from "../../protocol/endpoint.ts";
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
    throw new ServerCallError(`${method} ${url.origin}${url.pathname} failed: ${(error as Error).message}`, 0, {
      cause: error,
    });
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
  const root = apiRoot(base);
  return {
    origin: root.origin,
    /** The server's base URL (with its mount path), e.g. https://saas.example/pkipc/. */
    base: root.href,
    config: (signal: AbortSignal) =>
      call<ServiceConfig>("GET", apiUrl(root, "/v1/config"), signal, (v) => typeof v?.range?.start === "number"),
    createSession: (signal: AbortSignal) =>
      call<SessionOffer>(
        "POST",
        apiUrl(root, "/v1/sessions"),
        signal,
        (v) => typeof v?.id === "string" && Array.isArray(v.tuples),
      ),
    status: (id: string, wait: { seconds: number; since: number } | undefined, signal: AbortSignal) => {
      const url = apiUrl(root, `/v1/sessions/${encodeURIComponent(id)}`);
      if (wait) url.search = `wait=${wait.seconds}&since=${wait.since}`;
      return call<SessionStatus>(
        "GET",
        url,
        signal,
        (v) => typeof v?.state === "string" && typeof v.version === "number",
      );
    },
  };
}

export type BrowserApi = ReturnType<typeof browserApi>;

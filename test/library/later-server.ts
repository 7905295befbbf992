// A stand-in for a later pkipc server: a loopback proxy in front of this version's real server that adds fields to
// every JSON answer it passes on (test/library/newer-server.test.ts, and pack.test.ts for the other runtimes).
import { onCleanup } from "../helpers.ts";

/** The answers whose `instructions` are instructions for the service to run (the rest are their statuses). */
const TO_RUN = /^\/v1\/(reports|links\/)/;

/**
 * Fields no version of pkipc sends: added to the answer and to its nested objects (not to records such as
 * args). Inside an instruction the service is to run only when `inInstructions` says so.
 */
function extend(value: unknown, path: string, inInstructions: boolean): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...value, addedLater: { note: "a field of a later version" } };
  for (const key of ["process", "error", "range"]) {
    const inner = out[key];
    if (typeof inner === "object" && inner !== null && !Array.isArray(inner)) out[key] = { ...inner, alsoLater: 7 };
  }
  if (Array.isArray(out.instructions) && (inInstructions || !TO_RUN.test(path)))
    out.instructions = out.instructions.map((i) => (typeof i === "object" && i !== null ? { ...i, alsoLater: 7 } : i));
  return out;
}

/** A loopback proxy to `target` that extends every JSON answer; counts what it extended, by path. */
export function laterServer(target: string, inInstructions = false) {
  const extended = new Map<string, number>();
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60, // long polls pass through
    async fetch(request) {
      const url = new URL(request.url);
      const headers = new Headers(request.headers);
      headers.delete("host");
      const answer = await fetch(new URL(url.pathname + url.search, target), {
        method: request.method,
        headers,
        body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
        redirect: "manual",
        signal: AbortSignal.timeout(45_000),
      });
      const out = new Headers(answer.headers);
      out.delete("content-length");
      out.delete("content-encoding");
      if (!answer.headers.get("content-type")?.includes("json"))
        return new Response(answer.body, { status: answer.status, headers: out });
      const path = url.pathname.replace(/\/v1\/(sessions|links)\/[^/]+/, "/v1/$1/ID");
      extended.set(path, (extended.get(path) ?? 0) + 1);
      return new Response(JSON.stringify(extend(await answer.json(), url.pathname, inInstructions)), {
        status: answer.status,
        headers: out,
      });
    },
  });
  onCleanup(() => proxy.stop(true));
  return { url: `http://127.0.0.1:${proxy.port}`, extended };
}

// What a running service says about itself (since when, its server and whether it answers, ports, origins, last link): one source for its start line, its metrics and `service status`.
import { describeError } from "../lib/errors.ts";
import { apiClient } from "../protocol/api-client.ts";
import { readRememberedOrigins } from "./consent/origins.ts";
import type { ServiceState } from "./state-file.ts";

/** How long a check of the server waits for its answer, in ms. */
export const SERVER_DEADLINE_MS = 3000;

export interface ServerReach {
  answers: boolean;
  /** "answers (12 ms)" or "does not answer: <why>". */
  detail: string;
}

/** Whether the server answers its config request before the deadline, and how fast or why not. */
export async function serverReach(server: string | URL, timeoutMs = SERVER_DEADLINE_MS): Promise<ServerReach> {
  const started = performance.now();
  try {
    await apiClient(server, { timeoutMs }).config();
    return { answers: true, detail: `answers (${Math.round(performance.now() - started)} ms)` };
  } catch (error) {
    return { answers: false, detail: `does not answer: ${describeError(error)}` };
  }
}

/**
 * serverReach, asked at most once per `maxAgeMs` (default 5,000): a scraper that asks every second
 * costs the server one request per period, and callers that come during a check share it.
 */
export function cachedReach(server: string | URL, maxAgeMs = 5000): () => Promise<ServerReach> {
  let last: { at: number; reach: Promise<ServerReach> } | undefined;
  return () => {
    if (!last || performance.now() - last.at > maxAgeMs) last = { at: performance.now(), reach: serverReach(server) };
    return last.reach;
  };
}

/** How many origins the desktop's user allowed always; undefined when the file is refused (the service then asks). */
export function rememberedCount(stateDir: string): number | undefined {
  try {
    return readRememberedOrigins(stateDir).length;
  } catch {
    return undefined;
  }
}

/** The allowed origins in a few words: "any", or how many are listed (and remembered with "always"). */
export function originsSummary(allowOrigins: ServiceState["allowOrigins"], remembered?: number): string {
  const listed = allowOrigins === "any" ? "any" : `${allowOrigins.length} listed`;
  return remembered === undefined ? listed : `${listed}, ${remembered} remembered (always allowed on this desktop)`;
}

/** The status as one line, for the log at start: the facts `pkipc service status` prints, in the same words. */
export function statusSentence(state: ServiceState, reach: ServerReach, remembered?: number): string {
  const total = state.held + state.missing.length;
  const missing = state.missing.length
    ? `, missing ${state.missing.length}: ${state.missing.map((m) => `${m.port}(${m.reason})`).join(",")}`
    : "";
  const last = state.lastLink
    ? `${state.lastLink.at} from ${state.lastLink.origin} (${state.lastLink.process}, PID ${state.lastLink.pid})`
    : "none since start";
  return [
    `running as PID ${state.pid} since ${state.startedAt}`,
    `server ${state.server} ${reach.detail}`,
    `ports: ${state.held} of ${total} held${missing}`,
    `origins allowed: ${originsSummary(state.allowOrigins, remembered)}`,
    `last link: ${last}`,
  ].join("; ");
}

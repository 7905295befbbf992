// `pkipc/backend`: the SaaS backend's API client (create a session, wait for its link, queue an instruction, wait for its result); plain fetch, no Bun globals: it runs on Node, Deno and Bun.
import { ApiError, NetworkError } from "../lib/errors.ts";
import { apiClient } from "../protocol/api-client.ts";
import type {
  InstructionRequest,
  InstructionStatus,
  SessionOffer,
  SessionRequest,
  SessionStatus,
} from "../protocol/schemas.ts";

export { apiClient, type ApiClient } from "../protocol/api-client.ts";
export { ApiError, PkipcError, NetworkError, DecodeError } from "../lib/errors.ts";
export type {
  InstructionRequest,
  InstructionStatus,
  SessionOffer,
  SessionRequest,
  SessionStatus,
} from "../protocol/schemas.ts";

export interface BackendClientOptions {
  /** The backend's API key (pkak_..., from `pkipc admin api-key`). */
  apiKey: string;
  /** Deadline of each call, in ms (long polls add their wait). Default 5000. */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Give up after this long, in ms, with the last status read. Default 60,000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** States an instruction ends in; "queued" and "delivered" still wait for the service. */
export const FINAL_INSTRUCTION_STATES: readonly InstructionStatus["state"][] = ["done", "refused", "expired"];

/** Longest single long poll this client asks for, in s (servers cap it at their --max-wait anyway). */
const POLL_SECONDS = 25;
/** Pause before asking again after a poll closed without an answer, in ms. */
const RETRY_MS = 250;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * A client for a pkipc server's backend API, as a SaaS backend holds it: every call has a deadline, every
 * wait a bound. Errors are ApiError (the server's stable `code` and `status`) or NetworkError.
 */
export function backendClient(server: string | URL, options: BackendClientOptions) {
  if (!options.apiKey) throw new TypeError("backendClient needs the backend's API key (apiKey)");
  const api = apiClient(server, {
    apiKey: options.apiKey,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });

  /** Long-polls the session until `until` holds, it ends, or the wait's timeout passes; returns the last status read. */
  async function waitForStatus(
    id: string,
    until: (status: SessionStatus) => boolean,
    wait: WaitOptions = {},
  ): Promise<SessionStatus> {
    const end = Date.now() + (wait.timeoutMs ?? 60_000);
    let status = await api.status(id, undefined, wait.signal);
    // Each turn is one long poll bounded by what is left: the loop ends by the deadline.
    while (!until(status) && status.state !== "expired" && Date.now() < end && !wait.signal?.aborted) {
      const seconds = Math.max(1, Math.min(POLL_SECONDS, Math.ceil((end - Date.now()) / 1000)));
      try {
        status = await api.status(id, { seconds, since: status.version }, wait.signal);
      } catch (error) {
        // a poll cut by a proxy's idle limit or a dropped connection: nothing is known to be wrong, ask again
        const closed =
          error instanceof NetworkError ||
          (error instanceof ApiError && (error.status === 502 || error.status === 504));
        if (!closed || wait.signal?.aborted || Date.now() + RETRY_MS >= end) throw error;
        await sleep(RETRY_MS, wait.signal);
      }
    }
    return status;
  }

  return {
    url: api.url,
    /** A new session: hand its `tuples` to the page to knock. `request.address`: the user's address as the backend saw it. */
    createSession: (request?: SessionRequest, signal?: AbortSignal): Promise<SessionOffer> =>
      api.createSession("json", signal, request),
    /** The session's status now. */
    status: (id: string, signal?: AbortSignal): Promise<SessionStatus> => api.status(id, undefined, signal),
    waitForStatus,
    /** Waits until a service links the session or its code expires (state "linked" or "expired"). */
    waitForLink: (id: string, wait?: WaitOptions) => waitForStatus(id, (s) => s.state !== "pending", wait),
    /** Queues an instruction for the service that links (or linked) the session; it reads "queued". */
    queueInstruction: (id: string, request: InstructionRequest, signal?: AbortSignal): Promise<InstructionStatus> =>
      api.queueInstruction(id, request, signal),
    /**
     * Waits until the instruction ends (done, refused or expired, each with its result) and returns it; past
     * the wait's timeout, it returns it as it stands (queued or delivered).
     */
    async waitForInstruction(id: string, instructionId: string, wait?: WaitOptions): Promise<InstructionStatus> {
      const find = (s: SessionStatus) => s.instructions.find((i) => i.id === instructionId);
      const status = await waitForStatus(id, (s) => FINAL_INSTRUCTION_STATES.includes(find(s)?.state ?? "done"), wait);
      const instruction = find(status);
      if (!instruction) throw new ApiError("NOT_FOUND", 404, `session ${id} has no instruction ${instructionId}`);
      return instruction;
    },
  };
}

export type BackendClient = ReturnType<typeof backendClient>;

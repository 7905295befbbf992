// Typed calls to a pkipc server, shared by the service and the CLI client: every call has a deadline and a size bound.
import type { Static, TSchema } from "@sinclair/typebox";
import { boundedFetch } from "../lib/bounded-fetch.ts";
import { ApiError, DecodeError } from "../lib/errors.ts";
import { decode, type Format } from "./codec.ts";
import {
  ApiKeyAnswer,
  ApiKeyList,
  type ApiKeyRequest,
  ApiKeySummary,
  DataLossAnswer,
  EnrollAnswer,
  EnrollToken,
  ServiceList,
  ServiceSummary,
} from "./enrollment.ts";
import { apiPath, apiRoot, apiUrl, VERSION_HEADER } from "./endpoint.ts";
import { VERSION } from "../version.ts";
import { type ServiceCredentials, signRequest } from "./signing.ts";
import {
  type Ack,
  ErrorBody,
  type InstructionRequest,
  InstructionStatus,
  LINK_TTL_HEADER,
  SESSION_ORIGIN_HEADER,
  PulledInstructions,
  type Report,
  ReportAnswer,
  ServiceConfig,
  SessionOffer,
  type SessionRequest,
  SessionStatus,
} from "./schemas.ts";

export interface ApiClientOptions {
  /** Deadline of each call, in ms; long polls add their wait. Default 5000. */
  timeoutMs?: number;
  /** An enrolled service's id and key: every request is then signed (see signing.ts). */
  credentials?: ServiceCredentials;
  /** A SaaS backend's API key (pkak_...): sent as a bearer credential on every request. */
  apiKey?: string;
  /** The server's admin secret, for the operator's calls under `admin`: sent as a bearer credential. */
  adminSecret?: string;
  /** Bytes of an answer read at most; a longer one is cut off and refused (ResponseTooLargeError). Default 1 MiB. */
  maxResponseBytes?: number;
  /** An Origin header to send, as a page of that origin would (the CLI client standing in for a page). */
  origin?: string;
}

export type ApiClient = ReturnType<typeof apiClient>;

/** The link lifetime a server states in LINK_TTL_HEADER, in ms; undefined when absent or not a whole number. */
function linkTtlOf(headers: Headers): number | undefined {
  const raw = headers.get(LINK_TTL_HEADER);
  const ms = raw === null || !/^\d{1,10}$/.test(raw) ? Number.NaN : Number(raw);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** How answers are decoded: fields a newer server added are skipped (see docs/operating.md#upgrading). */
const ANSWERS = { ignoreUnknown: true } as const;

/** A client for the server at `base` (e.g. http://127.0.0.1:7870). */
export function apiClient(base: string | URL, options: ApiClientOptions = {}) {
  const root = apiRoot(base);
  const timeoutMs = options.timeoutMs ?? 5000;

  async function call<S extends TSchema>(
    schema: S | undefined,
    method: string,
    path: string,
    init: {
      body?: unknown;
      format?: Format;
      extraMs?: number;
      signal?: AbortSignal;
      headers?: (headers: Headers) => void;
    } = {},
  ): Promise<Static<S>> {
    const url = apiUrl(root, path);
    const format = init.format ?? "json";
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const signature = options.credentials
      ? signRequest(options.credentials, { method, path: apiPath(root, url), body: body ?? "" })
      : {};
    const { response, text } = await boundedFetch(
      url,
      {
        method,
        headers: {
          accept: format === "xml" ? "application/xml" : "application/json",
          [VERSION_HEADER]: VERSION,
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          ...(options.apiKey || options.adminSecret
            ? { authorization: `Bearer ${options.apiKey ?? options.adminSecret}` }
            : {}),
          ...(options.origin ? { origin: options.origin } : {}),
          ...signature,
        },
        body,
      },
      { timeoutMs: timeoutMs + (init.extraMs ?? 0), signal: init.signal, maxBytes: options.maxResponseBytes },
    );
    if (!response.ok) {
      let errorBody: ErrorBody | undefined;
      try {
        errorBody = decode(ErrorBody, text, response.headers.get("content-type")?.includes("xml") ? "xml" : "json", {
          ignoreUnknown: true,
        });
      } catch {
        errorBody = undefined;
      }
      const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
      throw new ApiError(
        errorBody?.error.code ?? "HTTP",
        response.status,
        errorBody?.error.message ?? `${method} ${url.pathname} answered ${response.status}`,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
      );
    }
    init.headers?.(response.headers);
    if (!schema) return undefined as Static<S>;
    try {
      // A newer server may add fields: what this version knows is checked, the rest is left out.
      return decode(schema, text, format, ANSWERS);
    } catch (error) {
      throw new DecodeError(`${url.pathname} answered something unexpected: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  return {
    url: root.href,
    config: (signal?: AbortSignal) => call(ServiceConfig, "GET", "/v1/config", { signal }),
    /** A new session; a backend (apiKey) may state the user's address in `request`. */
    createSession: (format: Format = "json", signal?: AbortSignal, request?: SessionRequest) =>
      call(SessionOffer, "POST", `/v1/sessions?format=${format}`, {
        format,
        signal,
        ...(request ? { body: request } : {}),
      }),
    /** A new session and the web origin the server says it belongs to (absent from servers of 0.2, and for sessions of none). */
    openSession: async (
      format: Format = "json",
      signal?: AbortSignal,
      request?: SessionRequest,
    ): Promise<{ offer: SessionOffer; origin?: string }> => {
      let origin: string | undefined;
      const headers = (h: Headers) => (origin = h.get(SESSION_ORIGIN_HEADER) ?? undefined);
      const offer = await call(SessionOffer, "POST", `/v1/sessions?format=${format}`, {
        format,
        signal,
        headers,
        ...(request ? { body: request } : {}),
      });
      return origin ? { offer, origin } : { offer };
    },
    status: (id: string, wait?: { seconds: number; since: number }, signal?: AbortSignal) =>
      call(
        SessionStatus,
        "GET",
        `/v1/sessions/${encodeURIComponent(id)}${wait ? `?wait=${wait.seconds}&since=${wait.since}` : ""}`,
        { extraMs: (wait?.seconds ?? 0) * 1000, signal },
      ),
    queueInstruction: (id: string, request: InstructionRequest, signal?: AbortSignal) =>
      call(InstructionStatus, "POST", `/v1/sessions/${encodeURIComponent(id)}/instructions`, { body: request, signal }),
    report: (report: Report, signal?: AbortSignal) =>
      call(ReportAnswer, "POST", "/v1/reports", { body: report, signal }),
    /** A report, with how long a link it made takes instructions (absent from servers of 0.2). */
    reportLink: async (report: Report, signal?: AbortSignal): Promise<{ answer: ReportAnswer; linkTtlMs?: number }> => {
      let linkTtlMs: number | undefined;
      const answer = await call(ReportAnswer, "POST", "/v1/reports", {
        body: report,
        signal,
        headers: (h) => (linkTtlMs = linkTtlOf(h)),
      });
      return { answer, ...(linkTtlMs === undefined ? {} : { linkTtlMs }) };
    },
    /** Instructions queued for a link, with how long from now the link takes more (absent from servers of 0.2). */
    pull: async (
      linkId: string,
      waitSeconds: number,
      signal?: AbortSignal,
    ): Promise<PulledInstructions & { linkTtlMs?: number }> => {
      let linkTtlMs: number | undefined;
      const pulled = await call(
        PulledInstructions,
        "GET",
        `/v1/links/${encodeURIComponent(linkId)}/instructions?wait=${waitSeconds}`,
        {
          extraMs: waitSeconds * 1000,
          signal,
          headers: (h) => (linkTtlMs = linkTtlOf(h)),
        },
      );
      return linkTtlMs === undefined ? pulled : { ...pulled, linkTtlMs };
    },
    ack: (linkId: string, acks: Ack[], signal?: AbortSignal) =>
      call(undefined, "POST", `/v1/links/${encodeURIComponent(linkId)}/acks`, { body: { acks }, signal }),
    /** Spends a one-time enrollment token; the answer holds this service's id and key. */
    enroll: (token: string, name: string, signal?: AbortSignal) =>
      call(EnrollAnswer, "POST", "/v1/enroll", { body: { token, name }, signal }),
    /** The operator's calls (`pkipc admin`); they need options.adminSecret. */
    admin: {
      /** A one-time enrollment token for a new service. */
      token: () => call(EnrollToken, "POST", "/v1/admin/tokens"),
      services: () => call(ServiceList, "GET", "/v1/admin/services"),
      revokeService: (id: string) => call(ServiceSummary, "DELETE", `/v1/admin/services/${encodeURIComponent(id)}`),
      /** A new API key; its secret (and its webhook's) is in this answer only. */
      issueApiKey: (request: ApiKeyRequest) => call(ApiKeyAnswer, "POST", "/v1/admin/api-keys", { body: request }),
      apiKeys: () => call(ApiKeyList, "GET", "/v1/admin/api-keys"),
      revokeApiKey: (id: string) => call(ApiKeySummary, "DELETE", `/v1/admin/api-keys/${encodeURIComponent(id)}`),
      /** Clears a data-loss flag (the shared store lost its data): /healthz answers 200 again. */
      acknowledgeDataLoss: () => call(DataLossAnswer, "POST", "/v1/admin/data-loss/acknowledge"),
    },
  };
}

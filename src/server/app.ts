// The HTTP API: Elysia routes over the session logic, every payload validated by its TypeBox schema.
import { describeSchemaProblem, type SchemaProblem } from "../protocol/schema-problem.ts";
import { openapi } from "@elysiajs/openapi";
import type { Static, TProperties, TSchema } from "@sinclair/typebox";
// Query and path schemas use Elysia's `t` (TypeBox 0.34 too): only it coerces "5" in a query string to 5.
import { Elysia, t as T } from "elysia";
import { ForbiddenError, PkipcError, RateLimitError, UnauthorizedError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { CONTENT_TYPES, encode, type Format, negotiate } from "../protocol/codec.ts";
import {
  AckRequest,
  ErrorBody,
  InstructionRequest,
  InstructionStatus,
  LINK_TTL_HEADER,
  SESSION_ORIGIN_HEADER,
  Report,
  PulledInstructions,
  ReportAnswer,
  ServiceConfig,
  SessionOffer,
  SessionRequest,
  SessionStatus,
} from "../protocol/schemas.ts";
import { VERSION_HEADER } from "../protocol/endpoint.ts";
import { statusFor } from "../protocol/versions.ts";
import { browserCors } from "./cors.ts";
import { pageRoutes } from "./page/routes.ts";
import { adminRoutes } from "./admin.ts";
import { type ApiCaller, type Guard, jsonBody } from "./guard.ts";
import type { Charge } from "../lib/rate-limit.ts";
import type { SessionCreator, Sessions } from "./sessions.ts";

/** Largest request body, in bytes (an enumerate report of 2,048 completions fits). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface AppOptions {
  sessions: Sessions;
  /** Signatures, addresses and rate limits (see guard.ts). */
  guard: Guard;
  log: Logger;
  /** Shown on /healthz. */
  storeName: string;
  /** Throws when the store does not answer: /healthz then says so with 503. */
  storeHealth?: () => Promise<void>;
  /** Clears a shared store's data-loss flag (the admin endpoint); false when none was set. */
  acknowledgeLoss?: () => Promise<boolean>;
  version: string;
}

/** A query schema that refuses parameters it does not name (a typo or a probe gets a 400, not silence). */
const strictQuery = <P extends TProperties>(properties: P) => T.Object(properties, { additionalProperties: false });
const FormatQuery = T.Optional(
  T.Union([T.Literal("json"), T.Literal("xml")], { description: "Answer format; overrides Accept" }),
);
const SessionId = T.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const WaitQuery = T.Optional(
  T.Integer({ minimum: 0, maximum: 60, description: "Long poll: seconds to wait for a change" }),
);

function reply<S extends TSchema>(
  schema: S,
  value: Static<S>,
  format: Format,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  headers["content-type"] = CONTENT_TYPES[format];
  return new Response(encode(schema, value, format), { status, headers });
}

/** The one place an error becomes an HTTP answer: a stable code and one sentence, never a stack. */
function errorReply(
  code: string,
  message: string,
  status: number,
  format: Format,
  headers: Record<string, string> = {},
): Response {
  const response = reply(ErrorBody, { error: { code, message } }, format, status);
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

function validationMessage(error: unknown): string {
  const all = (error as { all?: SchemaProblem[] }).all;
  return describeSchemaProblem(Array.isArray(all) ? all[0] : undefined);
}

/** How often the server says, per kind of limit, how many requests it answered 429 since it last said so. */
const THROTTLE_LOG_MS = 10_000;

/** Builds the Elysia app; the caller listens. */
export function createApp(options: AppOptions) {
  const { sessions, log, guard } = options;
  // One line per kind of limit per 10 s, with the count: a flood must not flood the log, nor go unsaid.
  const throttled = new Map<string, { count: number; since: number }>();
  const throttleLog = (error: RateLimitError) => {
    const kind = error.message.split(";")[0]!;
    const now = Date.now();
    const seen = throttled.get(kind);
    if (seen && now - seen.since < THROTTLE_LOG_MS) {
      seen.count++;
      return;
    }
    if (!seen && throttled.size >= 64) throttled.clear(); // bounded: kinds are a handful of fixed sentences
    log.warn(`throttling: ${kind}`, { answered429: (seen?.count ?? 0) + 1, sinceMs: seen ? now - seen.since : 0 });
    throttled.set(kind, { count: 0, since: now });
  };
  const formatOf = (query: Record<string, unknown>, request: Request) =>
    negotiate(typeof query.format === "string" ? query.format : undefined, request.headers.get("accept"));
  const addressOf = (server: { requestIP(r: Request): { address: string } | null } | null, request: Request) =>
    guard.address(request, server);
  // The headers of a new session's answer, made once per format and origin (bounded): Response copies them.
  const madeHeaders: Record<Format, Map<string, Headers>> = { json: new Map(), xml: new Map() };
  const offerHeaders = (format: Format, origin: string) => {
    const made = madeHeaders[format];
    let headers = made.get(origin);
    if (headers === undefined) {
      if (made.size >= 1024) made.clear();
      headers = new Headers({ "content-type": CONTENT_TYPES[format] });
      if (origin) headers.set(SESSION_ORIGIN_HEADER, origin);
      made.set(origin, headers);
    }
    return headers;
  };
  // The listening server, read where a route needs the socket's address. A handler that names `server` in its
  // context makes Elysia define a getter on every request's context: the hot route reads it from here instead.
  let self: { server: { requestIP(r: Request): { address: string } | null } | null } | undefined;

  /**
   * Who asks for a session: a SaaS backend with its API key (it may state the user's address), or a
   * page of an allowed origin (bound to its own address). Anything else is refused: a page of another
   * site must not be able to link the user's service to a session of its own.
   */
  const creatorOf = (
    key: ApiCaller | undefined,
    request: Request,
    server: any,
    body: SessionRequest | undefined,
  ): [SessionCreator, readonly Charge[]] => {
    if (key) {
      // the socket's address only when the backend states none (requestIP is a system call)
      const who = {
        address: body?.address === undefined ? addressOf(server, request) : body.address.replace(/^::ffff:/i, ""),
        origin: key.origin,
        apiKeyId: key.id,
      };
      return [who, guard.sessionCharges("", key)]; // counted by key, not by address
    }
    const address = addressOf(server, request);
    if (body?.address !== undefined)
      throw new ForbiddenError(
        "only a SaaS backend (with its API key) may state the user's address",
        "API_KEY_REQUIRED",
      );
    const origin = guard.pageOrigin(request);
    if (origin === undefined) {
      throw new UnauthorizedError(
        "API_KEY_REQUIRED",
        "creating a session needs the SaaS backend's API key (Authorization: Bearer pkak_...) or a page of an allowed origin",
      );
    }
    return [{ address, origin }, guard.sessionCharges(address)];
  };

  // normalize off: a body or query with properties the schema does not name is refused, not trimmed.
  const app = new Elysia({ normalize: false, serve: { maxRequestBodySize: MAX_BODY_BYTES } })
    .use(
      openapi({
        // No viewer: Elysia's default loads Scalar from a CDN, unpinned, on this origin. pageRoutes serves
        // a plain page at /openapi instead; the document stays at /openapi/json.
        provider: null,
        documentation: {
          info: {
            title: "pkipc",
            version: options.version,
            description: "Deliver a key to a local service through a browser, by port knocking on loopback.",
          },
        },
      }),
    )
    .onError(({ code, error: raised, request, query }) => {
      const format = formatOf((query ?? {}) as Record<string, unknown>, request);
      // Elysia wraps what a parse hook throws (a refused signature, a decode error): answer with the original.
      const error =
        code === "PARSE" && (raised as Error).cause instanceof PkipcError ? (raised as Error).cause : raised;
      if (error instanceof RateLimitError) {
        throttleLog(error);
        return errorReply(error.code, error.message, 429, format, { "retry-after": String(error.retryAfterSeconds) });
      }
      if (error instanceof PkipcError) {
        const response = errorReply(error.code, error.message, error.status, format);
        // A page of an origin this server does not serve gets the refusal readable (the page module then says
        // NOT_ALLOWED, not a network error): it says only that the origin is not served.
        const origin = request.headers.get("origin");
        if (error.code === "ORIGIN_NOT_ALLOWED" && origin !== null)
          response.headers.set("access-control-allow-origin", origin);
        return response;
      }
      if (code === "VALIDATION") return errorReply("INVALID_INPUT", validationMessage(error), 400, format);
      if (code === "PARSE") return errorReply("INVALID_INPUT", "the request body could not be parsed", 400, format);
      if (code === "NOT_FOUND") return errorReply("NOT_FOUND", "no such endpoint", 404, format);
      if (code === "INVALID_COOKIE_SIGNATURE") return errorReply("INVALID_INPUT", "bad cookie", 400, format);
      const status = (error as { status?: number }).status;
      if (typeof status === "number" && status >= 400 && status < 500) {
        return errorReply("INVALID_INPUT", (error as Error).message || "bad request", status, format);
      }
      log.error("request failed", { path: new URL(request.url).pathname, error: (error as Error).message });
      return errorReply("INTERNAL", "the server failed to handle the request", 500, format);
    })
    .onRequest(({ request }) => {
      // A query string that does not decode (e.g. "%zz") is refused, not silently dropped.
      const query = request.url.indexOf("?");
      if (query < 0) return;
      try {
        decodeURIComponent(request.url.slice(query + 1).replaceAll("+", " "));
      } catch {
        return errorReply("INVALID_INPUT", "the query string is not valid percent-encoding", 400, "json");
      }
    })
    .use(browserCors(guard.originAllowed))
    .use(pageRoutes())
    .get(
      "/healthz",
      async ({ set }) => {
        try {
          await options.storeHealth?.();
        } catch (error) {
          set.status = 503;
          return { ok: false, store: options.storeName, version: options.version, error: (error as Error).message };
        }
        return { ok: true, store: options.storeName, version: options.version };
      },
      {
        detail: { summary: "Liveness" },
      },
    )
    .use(adminRoutes(guard, log, (request, server) => addressOf(server, request), options.acknowledgeLoss))
    .get(
      "/v1/config",
      ({ query, request }) => {
        // A page of an origin the server does not serve hears so here too (403, readable: see cors.ts), not a network error.
        guard.pageOrigin(request);
        return reply(ServiceConfig, sessions.config(), formatOf(query, request));
      },
      {
        query: strictQuery({ format: FormatQuery }),
        response: { 200: ServiceConfig, 403: ErrorBody },
        detail: { summary: "What a service needs: range, code shape, timing, bind-failure strategy" },
      },
    )
    .post(
      "/v1/sessions",
      async ({ query, request, body }) => {
        const key = await guard.presentedApiKey(request);
        const [who, charges] = creatorOf(key, request, self?.server ?? null, body as SessionRequest | undefined);
        const offer = await sessions.create(who, charges);
        const format = formatOf(query, request);
        return new Response(encode(SessionOffer, offer, format), {
          status: 201,
          headers: offerHeaders(format, who.origin ?? ""),
        });
      },
      {
        query: strictQuery({ format: FormatQuery }),
        parse: jsonBody,
        body: T.Optional(SessionRequest),
        response: { 201: SessionOffer, 401: ErrorBody, 403: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody },
        detail: {
          summary: "Issue a knock code",
          description:
            "A new session with its knock code: the tuples to knock in order, and when it expires. A SaaS backend calls it with its API key " +
            "(Authorization: Bearer pkak_...) and may state the user's address in the body; a page of an allowed origin may call it without " +
            "a body. JSON, or XML with ?format=xml or Accept: application/xml.",
        },
      },
    )
    .get(
      "/v1/sessions/:id",
      async ({ params, query, request, server }) => {
        const viewer = await guard.apiKey(request);
        if (!viewer) guard.pageOrigin(request);
        const address = addressOf(server, request);
        // A held poll costs a connection, a timer and a waiter: past its holder's bound it is answered now,
        // before anything else is spent on it (a shared store's round trips).
        const release = query.wait ? guard.holdPoll(address, viewer) : undefined;
        try {
          await guard.limitRead(address, viewer);
          const status = await sessions.status(params.id, {
            waitMs: (query.wait ?? 0) * 1000,
            since: query.since,
            signal: request.signal,
            ...(viewer ? { viewer } : {}),
          });
          return reply(SessionStatus, statusFor(status, request.headers.get(VERSION_HEADER)), formatOf(query, request));
        } finally {
          release?.();
        }
      },
      {
        params: T.Object({ id: SessionId }),
        query: strictQuery({
          format: FormatQuery,
          wait: WaitQuery,
          since: T.Optional(
            T.Integer({
              minimum: 0,
              maximum: Number.MAX_SAFE_INTEGER,
              description: "Long poll: answer once the version is above this",
            }),
          ),
        }),
        response: {
          200: SessionStatus,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
        detail: {
          summary: "Session status: pending, linked or expired; long poll with wait and since",
          description:
            "With the API key that owns the session: also its origin, the linked process and the instructions' results. Without: progress only.",
        },
      },
    )
    .post(
      "/v1/sessions/:id/instructions",
      async ({ params, body, query, request }) => {
        const viewer = await guard.requireApiKey(request);
        return reply(
          InstructionStatus,
          await sessions.queueInstruction(params.id, body, viewer),
          formatOf(query, request),
          202,
        );
      },
      {
        params: T.Object({ id: SessionId }),
        query: strictQuery({ format: FormatQuery }),
        parse: jsonBody,
        body: InstructionRequest,
        response: { 202: InstructionStatus, 401: ErrorBody, 404: ErrorBody, 410: ErrorBody, 415: ErrorBody },
        detail: {
          summary: "Queue an instruction for the service that links this session (the SaaS backend's API key)",
        },
      },
    )
    .post(
      "/v1/reports",
      async ({ body, query, request, server }) => {
        const origin = addressOf(server, request);
        const service = guard.serviceOf(request);
        const answer = await sessions.report(body, origin, service, guard.reportCharges(service, origin));
        const lifetime = answer.linked ? { [LINK_TTL_HEADER]: String(sessions.linkTtlMs) } : undefined;
        return reply(ReportAnswer, answer, formatOf(query, request), 200, lifetime);
      },
      {
        // A report of a service this server does not know is refused (401, always); the session it fits learns why
        // (SERVICE_NOT_ENROLLED) as a hint that stops nothing (the page and the CLI keep waiting for a link), within a
        // limit of its own: past it, or when the store fails, the hint is skipped, never the refusal changed.
        parse: guard.signedBody(Report, (report, address, refusal) =>
          sessions
            .unknownServiceReport(
              report,
              address,
              refusal.code === "UNSIGNED"
                ? "its report was not signed"
                : "its report was signed by an unknown service id",
              guard.unprovenReportCharges(address),
            )
            .catch(() => {}),
        ),
        body: Report,
        query: strictQuery({ format: FormatQuery }),
        response: { 200: ReportAnswer, 401: ErrorBody, 429: ErrorBody },
        detail: { summary: "A service reports the knocks of one process; the answer says what linked and what to do" },
      },
    )
    .get(
      "/v1/links/:linkId/instructions",
      async ({ params, query, request }) => {
        const { instructions, linkTtlMs } = await sessions.pull(
          params.linkId,
          (query.wait ?? 0) * 1000,
          request.signal,
          guard.serviceOf(request),
        );
        return reply(PulledInstructions, { instructions }, formatOf(query, request), 200, {
          [LINK_TTL_HEADER]: String(linkTtlMs),
        });
      },
      {
        params: T.Object({ linkId: SessionId }),
        query: strictQuery({ format: FormatQuery, wait: WaitQuery }),
        beforeHandle: guard.signedNoBody,
        response: { 200: PulledInstructions, 401: ErrorBody, 404: ErrorBody, 410: ErrorBody },
        detail: { summary: "A linked service fetches instructions queued after its report (long poll with wait)" },
      },
    )
    .post(
      "/v1/links/:linkId/acks",
      async ({ params, body, set, request }) => {
        await sessions.acknowledge(params.linkId, body.acks, guard.serviceOf(request));
        set.status = 204;
        return "";
      },
      {
        params: T.Object({ linkId: SessionId }),
        parse: guard.signedBody(AckRequest),
        body: AckRequest,
        detail: { summary: "A linked service answers the instructions it handled" },
      },
    );
  self = app;
  return app;
}

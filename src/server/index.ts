// Starts a pkipc server: the session logic behind the HTTP API, on the address asked for.
import { NetworkError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import type { ServiceRegistry } from "./state/types.ts";
import { checkAdminSecret } from "./admin-secret.ts";
import { createGuard, type SecurityOverrides, type SecuritySettings, securitySettings } from "./guard.ts";
import { createSessions, retentionFor, type SessionSettings, toStatus } from "./sessions.ts";
import { openState } from "./state/index.ts";
import { type MetricsEndpoint, serveMetrics } from "../lib/metrics-endpoint.ts";
import { serverMetrics } from "./metrics.ts";
import { memoryStore } from "./state/memory/sessions.ts";
import type { SessionStore } from "./state/types.ts";
import { createWebhooks, DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from "./webhooks/index.ts";

export interface ServerConfig extends SessionSettings {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serve HTTPS with this PEM certificate and key (contents, not paths), so https pages can be tested. */
  tls?: { cert: string; key: string };
  /** Signatures, origin binding, limits; anything left out takes its safe default (DEFAULT_SECURITY). */
  security?: SecurityOverrides;
  /** Where shared state lives: "memory" (default) or redis://[user:pass@]HOST:PORT[/DB] (or rediss://) for several instances. */
  store?: string;
  /** Serve GET /metrics (Prometheus text) on this address of its own; unset: no metrics at all. */
  metricsListen?: { host: string; port: number };
  /** Sessions the memory store keeps, live or finished. Default 100,000. */
  maxRecords?: number;
  /** How long stop() lets requests in flight finish before closing their connections, in ms. Default 5,000. */
  drainMs?: number;
  /** Webhook retries, deadline and queue bound; anything left out takes DEFAULT_WEBHOOK_SETTINGS. */
  webhooks?: Partial<WebhookSettings>;
}

/** Bun closes a connection quiet for longer than this many seconds (it allows at most 255). */
export const MAX_IDLE_SECONDS = 255;

/**
 * The HTTP idle limit for a server whose long polls last up to `maxWaitMs`: a poll sends nothing while it
 * waits, so the limit must outlast the longest one, with a margin for a slow answer.
 */
export function idleTimeoutFor(maxWaitMs: number): number {
  return Math.min(MAX_IDLE_SECONDS, Math.ceil(maxWaitMs / 1000) + 15);
}

export interface RunningServer {
  /** The base URL clients and services use, e.g. http://127.0.0.1:7870. */
  url: string;
  port: number;
  /** Enrolled services: the demo and tests issue tokens through it directly. */
  registry: ServiceRegistry;
  security: SecuritySettings;
  /** Lets pages of `origin` use the browser API from now on (as --allow-origin does at start). */
  allowOrigin(origin: string): void;
  /** Where GET /metrics answers, when --metrics-listen asked for it. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

/** Starts the server; state lives in memory unless config.store names Redis (`sessionStore` replaces the memory store, for tests). */
export async function startServer(
  config: ServerConfig,
  log: Logger,
  sessionStore?: SessionStore,
): Promise<RunningServer> {
  const metrics = config.metricsListen ? serverMetrics() : undefined;
  const security = securitySettings(config.security);
  // Before anything opens: a weak secret is refused for library callers as for the CLI.
  if (security.adminSecret !== undefined) checkAdminSecret(security.adminSecret);
  const kind = config.store ?? "memory";
  const state = await openState(
    kind,
    security,
    log,
    sessionStore ??
      (kind === "memory"
        ? memoryStore({ maxRecords: config.maxRecords, retainMs: retentionFor(config.linkTtlMs) })
        : undefined),
    sharedSettings(config, security),
    retentionFor(config.linkTtlMs),
  );
  const store = metrics ? metrics.store(state.store) : state.store;
  const { registry } = state;
  let guard = createGuard(security, registry, log, state);
  const webhooks = createWebhooks(
    (apiKeyId) => registry.webhookOf(apiKeyId),
    (record) => toStatus(record, Date.now(), true, config.linkTtlMs),
    log.child({ part: "webhooks" }),
    { ...DEFAULT_WEBHOOK_SETTINGS, ...config.webhooks },
    `pkipc/${VERSION}`,
  );
  let sessions = createSessions(config, store, log, { bindOrigin: security.bindOrigin }, webhooks.observe);
  if (metrics) {
    guard = metrics.guard(guard);
    sessions = metrics.sessions(sessions);
  }
  const app = createApp({
    sessions,
    guard,
    log,
    storeName: store.name,
    storeHealth: state.ping,
    acknowledgeLoss: state.acknowledgeLoss,
    version: VERSION,
  });
  try {
    // reusePort off: Elysia turns it on, and then a second server on a taken address starts without a word.
    app.listen({
      hostname: config.host,
      port: config.port,
      reusePort: false,
      idleTimeout: idleTimeoutFor(config.maxWaitMs),
      ...(config.tls ? { tls: config.tls } : {}),
    });
  } catch (error) {
    await state.close();
    const taken = (error as { code?: string }).code === "EADDRINUSE" || /in use/i.test((error as Error).message);
    const why = taken
      ? "the address is already in use (another pkipc server or program holds it)"
      : (error as Error).message;
    throw new NetworkError(`cannot listen on ${config.host}:${config.port}: ${why}`, { cause: error });
  }
  let endpoint: MetricsEndpoint | undefined;
  if (metrics && config.metricsListen) {
    try {
      endpoint = serveMetrics(metrics.registry, config.metricsListen.host, config.metricsListen.port);
    } catch (error) {
      await app.stop(true);
      await state.close();
      throw error;
    }
  }
  const port = app.server!.port!;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  // Pages the server serves itself (the demo page) may use the browser API: its own origin is allowed,
  // as the address it listens on (not the Host header, which any client, or a DNS-rebinding page, can set).
  const scheme = config.tls ? "https" : "http";
  const selfHosts = ["0.0.0.0", "::"].includes(config.host) ? ["127.0.0.1", "localhost", "[::1]"] : [host];
  if (["127.0.0.1", "[::1]"].includes(host)) selfHosts.push("localhost");
  for (const h of selfHosts) guard.allowOrigin(`${scheme}://${h}:${port}`);
  return {
    url: `${config.tls ? "https" : "http"}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    port,
    registry,
    security,
    allowOrigin: (origin) => guard.allowOrigin(origin),
    ...(endpoint ? { metricsUrl: endpoint.url } : {}),
    async stop() {
      await endpoint?.stop();
      // Drain: refuse new connections, answer long polls now, let requests in flight finish (bounded), then close.
      sessions.drain();
      const server = app.server;
      if (server) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.drainMs ?? 5_000)));
        await Promise.race([server.stop(false), bound]);
        clearTimeout(timer);
        await server.stop(true);
      }
      await app.stop(true).catch(() => undefined);
      webhooks.sender.stop();
      await state.close();
    },
  };
}

/** The settings every instance on one store must agree on, as text (secrets only as set or not). */
function sharedSettings(config: ServerConfig, security: SecuritySettings): Record<string, string> {
  return {
    range: `${config.range.start}-${config.range.end}`,
    code: `${config.shape.tuples}x${config.shape.portsPerTuple}`,
    ttl: `${config.ttlMs} ms`,
    "link-ttl": `${config.linkTtlMs} ms`,
    settle: `${config.settleMs} ms`,
    idle: `${config.idleMs} ms`,
    "bind-failure": config.bindFailure.name,
    "max-missing": String(config.maxMissing),
    "max-failed": String(config.maxFailed),
    "max-completions": String(config.maxCompletions),
    "max-sessions": String(config.maxLiveSessions),
    "max-page-sessions": String(config.maxPageSessions ?? "default"),
    "max-page-sessions-per-client": String(config.maxPageSessionsPerClient ?? "default"),
    "max-sessions-per-api-key": String(config.maxSessionsPerApiKey ?? "default"),
    "max-args-per-api-key": `${config.maxArgsBytesPerApiKey ?? "default"} bytes`,
    "max-wait": `${config.maxWaitMs} ms`,
    "signature-window": `${security.signatureWindowMs} ms`,
    "token-ttl": `${security.tokenTtlMs} ms`,
    signatures: security.requireSignatures ? "required" : "off",
    "origin binding": security.bindOrigin ? "on" : "off",
    "allow-origin": [...security.allowOrigins].sort().join(" ") || "none",
    "admin secret": security.adminSecret ? "set" : "not set",
    limits: JSON.stringify(security.limits),
  };
}

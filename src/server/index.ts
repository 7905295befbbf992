// Starts a pkipc server: the session logic behind the HTTP API, on the address asked for.
import { NetworkError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import type { ServiceRegistry } from "./enroll.ts";
import { createGuard, type SecurityOverrides, type SecuritySettings, securitySettings } from "./guard.ts";
import { createSessions, type SessionSettings } from "./sessions.ts";
import { openState } from "./state.ts";
import type { SessionStore } from "./store/types.ts";

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
  stop(): Promise<void>;
}

/** Starts the server; state lives in memory unless config.store names Redis (`sessions` replaces the memory store, for tests). */
export async function startServer(config: ServerConfig, log: Logger, sessionStore?: SessionStore): Promise<RunningServer> {
  const security = securitySettings(config.security);
  const state = await openState(config.store ?? "memory", security, log, sessionStore);
  const { store, registry } = state;
  const guard = createGuard(security, registry, log, state);
  const sessions = createSessions(config, store, log, { bindOrigin: security.bindOrigin });
  const app = createApp({ sessions, guard, log, storeName: store.name, storeHealth: state.ping, version: VERSION });
  try {
    app.listen({ hostname: config.host, port: config.port, ...(config.tls ? { tls: config.tls } : {}) });
  } catch (error) {
    await state.close();
    throw new NetworkError(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`, { cause: error });
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
    async stop() {
      await app.stop(true);
      await state.close();
    },
  };
}

// `pkipc server`: flags and environment to a ServerConfig, then run until a signal.
import { defineCommand } from "citty";
import { bindFailureStrategies, findBindFailure } from "../../plugins/bind-failure/index.ts";
import { ConfigError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import {
  codeShape,
  duration,
  durationText,
  hostPort,
  integer,
  oneOf,
  originList,
  portRange,
  rate,
  rateText,
  resolveOptions,
  text,
  toCittyArgs,
} from "../lib/options.ts";
import { DEFAULT_SECURITY } from "../server/guard.ts";
import { readTlsFiles } from "../server/tls.ts";
import { checkAdminSecret } from "../server/admin-secret.ts";
import { checkRedisUrl, redisWhere } from "../server/state/redis/connection.ts";
import { codeBits, knockCount, validateCodeSpace } from "../protocol/code.ts";
import { DEFAULT_MAX_PORTS, DEFAULT_RANGE, rangeSize } from "../protocol/ports.ts";
import { type ServerConfig, startServer } from "../server/index.ts";
import { retentionFor } from "../server/sessions.ts";
import type { CommandEnv } from "./env.ts";
import { webhookOptions, webhookSettings } from "../server/webhooks/options.ts";

/** "memory" or a Redis URL, checked; the password stays in the value, never in a message. */
function storeUrl(raw: string, name: string): string {
  if (raw === "memory") return raw;
  if (!/^rediss?(\+sentinel|\+cluster)?:\/\//.test(raw))
    throw new ConfigError(
      `${name} must be memory or a redis:// or rediss:// URL (redis+sentinel:// for a Sentinel deployment, redis+cluster:// for a Cluster)`,
    );
  checkRedisUrl(raw);
  return raw;
}

// The security defaults are typed once, in the server's guard; the flags' defaults are their text.
const SECURITY = DEFAULT_SECURITY;
const LIMITS = DEFAULT_SECURITY.limits;

export const serverOptions = {
  listen: { description: "Address to listen on", env: "PKIPC_LISTEN", default: "127.0.0.1:7870", parse: hostPort },
  range: {
    description: "Port range codes are drawn from",
    env: "PKIPC_RANGE",
    default: `${DEFAULT_RANGE.start}-${DEFAULT_RANGE.end}`,
    parse: portRange,
  },
  code: { description: "Code shape: tuples x ports per tuple", env: "PKIPC_CODE", default: "3x4", parse: codeShape },
  bindFailure: {
    description: "How services that could not bind every port are matched",
    env: "PKIPC_BIND_FAILURE",
    default: "server-match",
    parse: oneOf(Object.keys(bindFailureStrategies)),
  },
  ttl: { description: "How long a code lives", env: "PKIPC_TTL", default: "30s", parse: duration(1000, 600_000) },
  linkTtl: {
    description: "How long a linked session takes instructions after its link (services are told, and watch that long)",
    env: "PKIPC_LINK_TTL",
    default: "5m",
    parse: duration(1000, 3_600_000),
  },
  settle: {
    description: "Pause the client makes between tuples",
    env: "PKIPC_SETTLE",
    default: "0ms",
    parse: duration(0, 10_000),
  },
  idle: {
    description: "Quiet gap after which a service reports an incomplete burst",
    env: "PKIPC_IDLE",
    default: "250ms",
    parse: duration(10, 60_000),
  },
  maxMissing: {
    description: "Ports of a code that may be missing (failed binds); at most the code length - 1",
    env: "PKIPC_MAX_MISSING",
    default: "3",
    parse: integer(0, 64),
  },
  maxFailed: {
    description: "Failed ports a service may claim",
    env: "PKIPC_MAX_FAILED",
    default: "16",
    parse: integer(0, 4096),
  },
  maxCompletions: {
    description:
      "Codes one report may stand for, each looked up (enumerate: completions sent; server-match: C(failed, missing))",
    env: "PKIPC_MAX_COMPLETIONS",
    default: "2048",
    parse: integer(1, 100_000),
  },
  maxSessions: {
    description: "Live sessions of API keys at once (503 past it); page sessions count apart (--max-page-sessions)",
    env: "PKIPC_MAX_SESSIONS",
    default: "10000",
    parse: integer(1, 1_000_000),
  },
  maxPageSessions: {
    description: "Live sessions pages (no API key) may hold at once, in all (503 past it)",
    env: "PKIPC_MAX_PAGE_SESSIONS",
    default: "2000",
    parse: integer(1, 1_000_000),
  },
  maxPageSessionsPerClient: {
    description: "Live page sessions of one client network: an IPv4 address, an IPv6 /64 (429 past it)",
    env: "PKIPC_MAX_PAGE_SESSIONS_PER_CLIENT",
    default: "32",
    parse: integer(1, 1_000_000),
  },
  maxSessionsPerApiKey: {
    description: "Live sessions of one API key (429 past it)",
    env: "PKIPC_MAX_SESSIONS_PER_API_KEY",
    default: "5000",
    parse: integer(1, 1_000_000),
  },
  maxArgsMibPerApiKey: {
    description: "MiB of instruction args one API key may hold in kept sessions (429 past it)",
    env: "PKIPC_MAX_ARGS_MIB_PER_API_KEY",
    default: "32",
    parse: integer(1, 65_536),
  },
  maxPolls: {
    description: "Page long polls held at once by this instance (503 past it)",
    env: "PKIPC_MAX_POLLS",
    default: String(SECURITY.maxPolls),
    parse: integer(1, 1_000_000),
  },
  maxPollsPerClient: {
    description: "Page long polls one client network (IPv4 address, IPv6 /64) may hold at once (429 past it)",
    env: "PKIPC_MAX_POLLS_PER_CLIENT",
    default: String(SECURITY.maxPollsPerClient),
    parse: integer(1, 1_000_000),
  },
  maxPollsPerApiKey: {
    description: "Long polls one API key may hold at once on this instance (429 past it)",
    env: "PKIPC_MAX_POLLS_PER_API_KEY",
    default: String(SECURITY.maxPollsPerApiKey),
    parse: integer(1, 1_000_000),
  },
  maxRecords: {
    description:
      "Sessions the memory store keeps, live or finished (kept a minute past the link, at least 5 min); 0 = (--max-sessions + --max-page-sessions) x 10 per 5 min kept",
    env: "PKIPC_MAX_RECORDS",
    default: "0",
    parse: integer(0, 100_000_000),
  },
  maxWait: {
    description: "Longest long poll (at most 60s)",
    env: "PKIPC_MAX_WAIT",
    default: "30s",
    parse: duration(0, 60_000),
  },
  metricsListen: {
    description: "Serve GET /metrics (Prometheus) on this HOST:PORT of its own; unset: no metrics",
    env: "PKIPC_METRICS_LISTEN",
    parse: hostPort,
  },
  tlsCert: { description: "Serve HTTPS: PEM certificate file (with --tls-key)", env: "PKIPC_TLS_CERT", parse: text },
  tlsKey: { description: "Serve HTTPS: PEM private key file (with --tls-cert)", env: "PKIPC_TLS_KEY", parse: text },
  store: {
    description:
      "Where sessions, services, nonces and limits live: memory, or redis://[user:pass@]HOST:PORT[/DB] (rediss:// for TLS) shared by several instances, or redis+sentinel://[user:pass@]HOST:PORT,HOST:PORT/MASTER[/DB] for a Sentinel deployment, or redis+cluster://[user:pass@]HOST:PORT,HOST:PORT for a Redis Cluster",
    env: "PKIPC_STORE",
    default: "memory",
    parse: storeUrl,
  },
  servicesFile: {
    description: "File of enrolled services (their keys: kept mode 0600)",
    env: "PKIPC_SERVICES_FILE",
    default: "pkipc-services.json",
    parse: text,
  },
  adminSecret: {
    description:
      "Secret of the admin endpoints (tokens, revocation): 128 bits or more, e.g. openssl rand -base64 24; prefer the variable, flags show in ps. Unset disables them",
    env: "PKIPC_ADMIN_SECRET",
    parse: (raw: string, name: string) => {
      checkAdminSecret(raw, name);
      return raw;
    },
  },
  tokenTtl: {
    description: "How long an enrollment token can be used",
    env: "PKIPC_TOKEN_TTL",
    default: durationText(SECURITY.tokenTtlMs),
    parse: duration(1000, 7 * 86_400_000),
  },
  signatureWindow: {
    description: "Accepted clock difference of a signed request",
    env: "PKIPC_SIGNATURE_WINDOW",
    default: durationText(SECURITY.signatureWindowMs),
    parse: duration(1000, 600_000),
  },
  serviceReportRate: {
    description: "Reports per second per service, RATE[,BURST]; 0 = no limit",
    env: "PKIPC_SERVICE_REPORT_RATE",
    default: rateText(LIMITS.reportsPerService),
    parse: rate,
  },
  addressReportRate: {
    description: "Reports per second per source address",
    env: "PKIPC_ADDRESS_REPORT_RATE",
    default: rateText(LIMITS.reportsPerAddress),
    parse: rate,
  },
  sessionRate: {
    description: "Sessions created per second per client address",
    env: "PKIPC_SESSION_RATE",
    default: rateText(LIMITS.sessionsPerAddress),
    parse: rate,
  },
  enrollRate: {
    description: "Enrollments per second per address",
    env: "PKIPC_ENROLL_RATE",
    default: rateText(LIMITS.enrollPerAddress),
    parse: rate,
  },
  apiKeySessionRate: {
    description: "Sessions per second one API key (a SaaS backend) may create",
    env: "PKIPC_API_KEY_SESSION_RATE",
    default: rateText(LIMITS.sessionsPerApiKey),
    parse: rate,
  },
  apiKeyCallRate: {
    description: "Status reads and instructions per second per API key",
    env: "PKIPC_API_KEY_CALL_RATE",
    default: rateText(LIMITS.callsPerApiKey),
    parse: rate,
  },
  readRate: {
    description: "Session status reads per second per address, for pages (each long poll is one)",
    env: "PKIPC_READ_RATE",
    default: rateText(LIMITS.readsPerAddress),
    parse: rate,
  },
  serviceRequestRate: {
    description: "Signed requests (reports, pulls, acks) per second per service, counted before the replay cache",
    env: "PKIPC_SERVICE_REQUEST_RATE",
    default: rateText(LIMITS.requestsPerService),
    parse: rate,
  },
  allowOrigin: {
    description:
      "Web origins whose pages may create sessions and use the browser API (CORS), e.g. https://saas.example; repeatable or comma-separated. The server's own origin is always allowed",
    env: "PKIPC_ALLOW_ORIGIN",
    default: "",
    multiple: true,
    parse: originList,
  },
  trustProxyHeader: {
    description: "Header a trusted reverse proxy sets to the client address (e.g. x-forwarded-for)",
    env: "PKIPC_TRUST_PROXY_HEADER",
    parse: text,
  },
  anyOrigin: {
    description: "Let a report link sessions created from any address (turns off origin binding)",
    env: "PKIPC_ANY_ORIGIN",
    flag: true,
    parse: () => true,
  },
  insecureUnsigned: {
    description: "Accept reports from services that are not enrolled (labs and benchmarks only)",
    env: "PKIPC_INSECURE_UNSIGNED",
    flag: true,
    parse: () => true,
  },
  forceWeakCode: {
    description: `Run even if the code space is under 32 bits`,
    env: "PKIPC_FORCE_WEAK_CODE",
    flag: true,
    parse: () => true,
  },
  ...webhookOptions,
} as const;

/** Turns resolved options into a checked ServerConfig; throws ConfigError with one sentence. */
export function serverConfig(
  args: Record<string, unknown>,
  rawArgs: string[],
  env: Record<string, string | undefined>,
): { config: ServerConfig; bits: number } {
  const o = resolveOptions(serverOptions, args, rawArgs, env);
  const bits = validateCodeSpace(
    o.range,
    o.code,
    o.forceWeakCode,
    "force it with --force-weak-code (PKIPC_FORCE_WEAK_CODE)",
  );
  const strategy = findBindFailure(o.bindFailure);
  if (!strategy) throw new ConfigError(`unknown bind-failure strategy ${o.bindFailure}`);
  const tls = readTlsFiles(o.tlsCert, o.tlsKey);
  return {
    bits,
    config: {
      ...(tls ? { tls } : {}),
      host: o.listen.host,
      port: o.listen.port,
      range: o.range,
      shape: o.code,
      ttlMs: o.ttl,
      settleMs: o.settle,
      idleMs: o.idle,
      bindFailure: strategy,
      // At least one knock must be seen: a code cannot be made entirely of failed ports.
      maxMissing: Math.min(o.maxMissing, knockCount(o.code) - 1),
      maxFailed: o.maxFailed,
      maxCompletions: o.maxCompletions,
      maxLiveSessions: o.maxSessions,
      maxPageSessions: o.maxPageSessions,
      maxPageSessionsPerClient: o.maxPageSessionsPerClient,
      maxSessionsPerApiKey: o.maxSessionsPerApiKey,
      maxArgsBytesPerApiKey: o.maxArgsMibPerApiKey * 1024 * 1024,
      // the default keeps up with as many sessions a second as 10 x the caps every 300 s, whatever the retention
      maxRecords:
        o.maxRecords || (o.maxSessions + o.maxPageSessions) * Math.ceil((10 * retentionFor(o.linkTtl)) / 300_000),
      ...(o.metricsListen ? { metricsListen: o.metricsListen } : {}),
      maxWaitMs: o.maxWait,
      maxInstructions: 16,
      linkTtlMs: o.linkTtl,
      store: o.store,
      webhooks: webhookSettings(o),
      security: {
        servicesFile: o.servicesFile,
        adminSecret: o.adminSecret,
        tokenTtlMs: o.tokenTtl,
        signatureWindowMs: o.signatureWindow,
        requireSignatures: !o.insecureUnsigned,
        bindOrigin: !o.anyOrigin,
        allowOrigins: o.allowOrigin,
        trustProxyHeader: o.trustProxyHeader || undefined,
        maxPolls: o.maxPolls,
        maxPollsPerClient: o.maxPollsPerClient,
        maxPollsPerApiKey: o.maxPollsPerApiKey,
        limits: {
          reportsPerService: o.serviceReportRate,
          reportsPerAddress: o.addressReportRate,
          sessionsPerAddress: o.sessionRate,
          enrollPerAddress: o.enrollRate,
          sessionsPerApiKey: o.apiKeySessionRate,
          callsPerApiKey: o.apiKeyCallRate,
          readsPerAddress: o.readRate,
          requestsPerService: o.serviceRequestRate,
        },
      },
    },
  };
}

/** Logs what a running server offers, so an operator sees the strength of the codes at start. */
export function logServerStart(log: Logger, url: string, config: ServerConfig, bits: number): void {
  log.info(`listening on ${url}`, {
    range: `${config.range.start}-${config.range.end}`,
    code: `${config.shape.tuples}x${config.shape.portsPerTuple}`,
    bits: Number(bits.toFixed(1)),
    ttl: `${config.ttlMs / 1000}s`,
    bindFailure: config.bindFailure.name,
    store: config.store && config.store !== "memory" ? redisWhere(config.store) : "memory",
  });
  if (rangeSize(config.range) > DEFAULT_MAX_PORTS) {
    log.warn(
      `the port range has ${rangeSize(config.range)} ports; services refuse more than ${DEFAULT_MAX_PORTS} unless their --max-ports allows it`,
    );
  }
  const security = config.security ?? {};
  log.info("security", {
    signatures: security.requireSignatures === false ? "off" : "required",
    originBinding: security.bindOrigin === false ? "off" : "on",
    allowOrigins: security.allowOrigins?.length ? security.allowOrigins.join(",") : "this server's own only",
    services: config.store && config.store !== "memory" ? "redis" : (security.servicesFile ?? "memory"),
    admin: security.adminSecret ? "enabled" : "disabled", // never the secret itself
  });
  if (security.requireSignatures === false)
    log.warn("unsigned reports are accepted: anyone who can reach this server can claim sessions");
  if (bits < 32) log.warn(`weak codes: ${codeBits(rangeSize(config.range), knockCount(config.shape)).toFixed(1)} bits`);
}

export default defineCommand({
  meta: { name: "server", description: "Issue knock codes to browsers and match what services report" },
  args: toCittyArgs(serverOptions),
  async run({ args, rawArgs, data }) {
    const { env, log, waitForSignal } = data as CommandEnv;
    const { config, bits } = serverConfig(args, rawArgs, env);
    const server = await startServer(config, log.child({ role: "server" }));
    logServerStart(log.child({ role: "server" }), server.url, config, bits);
    if (server.metricsUrl) log.child({ role: "server" }).info(`metrics on ${server.metricsUrl}`);
    const signal = await waitForSignal();
    await server.stop();
    log.child({ role: "server" }).info(`stopped${signal ? ` on ${signal}` : ""}`);
  },
});

// The server's credentials: enrolled services (one-time tokens exchanged for per-service keys) and the
// SaaS backends' API keys, kept in one file (or in Redis: redis/registry.ts, for several instances).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeAtomically } from "../lib/atomic-file.ts";
import { CapacityError, ConfigError, NotFoundError, UnauthorizedError, UnsafePathError } from "../lib/errors.ts";
import { trustedPath } from "../lib/trusted-path.ts";
import { randomId, randomWordId } from "../protocol/code.ts";
import type { ServiceCredentials } from "../protocol/signing.ts";
import { type WebhookTarget, webhookSecret } from "./webhooks/index.ts";

/** One enrolled service as the server keeps it. The key is the HMAC key, base64url. */
export interface EnrolledService {
  id: string;
  name: string;
  key: string;
  createdAt: number;
  revokedAt?: number;
}

/** What an operator sees of a service: never its key. */
export type ServiceSummary = Omit<EnrolledService, "key">;

/**
 * A SaaS backend's credential: it creates sessions for its users, reads who linked them and queues
 * instructions. Only the SHA-256 digest of the key is kept.
 */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The web origin of the SaaS pages that knock this key's sessions (shown to the user's service). */
  origin: string;
  digest: string;
  createdAt: number;
  revokedAt?: number;
  /** Where the server POSTs this key's session events (see webhooks/); set when the key is made. */
  webhook?: string;
  /** The `whsec_` secret the events are signed with: kept in clear, since the server signs with it. */
  webhookSecret?: string;
}

/** What an operator, or a request authenticated by the key, sees of it: never the key, its digest or its webhook secret. */
export type ApiKeySummary = Omit<ApiKeyRecord, "digest" | "webhookSecret">;

/** The enrolled services, the tokens not yet used, and the API keys. */
/** When, from which address and as which pkipc version an enrolled service last signed a request. */
export interface Sighting {
  at: number;
  address: string;
  /** From the request's pkipc-version header; absent for services of 0.2, which send none. */
  version?: string;
}

export interface ServiceRegistry {
  /** "file", "memory" or "redis". */
  readonly name: string;
  /** A new one-time enrollment token; only its digest is kept. */
  issueToken(ttlMs: number): Promise<{ token: string; expiresAt: number }>;
  /** Spends a token and enrolls a service; throws UnauthorizedError BAD_TOKEN for an unknown, used or expired token. */
  enroll(token: string, name: string): Promise<ServiceCredentials>;
  /**
   * The key of an enrolled, unrevoked service. Looked up on every signed request, never cached, so a
   * revocation takes effect on the next request at every instance.
   */
  keyOf(serviceId: string): Promise<string | undefined>;
  revoke(serviceId: string): Promise<ServiceSummary>;
  list(): Promise<ServiceSummary[]>;
  /**
   * A new API key for a SaaS backend whose pages are at `origin`; the key is returned once, only its digest
   * kept. With a `webhook` URL (checked by the caller), a signing secret is made and returned once too.
   */
  issueApiKey(name: string, origin: string, webhook?: string): Promise<ApiKeySummary & { key: string; webhookSecret?: string }>;
  /** The webhook of an unrevoked API key, with its secret; undefined for none, revoked or unknown. */
  webhookOf(apiKeyId: string): Promise<WebhookTarget | undefined>;
  /** The unrevoked API key with this secret; looked up on every backend request, like keyOf. */
  apiKeyOf(key: string): Promise<ApiKeySummary | undefined>;
  revokeApiKey(id: string): Promise<ApiKeySummary>;
  listApiKeys(): Promise<ApiKeySummary[]>;
  /** Notes a signed request of an enrolled service (the guard calls it at most every 30 s per service and instance). */
  noteSeen(serviceId: string, seen: Sighting): Promise<void>;
  /** The last sighting of each service seen, by id. */
  sightings(): Promise<Map<string, Sighting>>;
}

interface Stored {
  version: 1;
  services: EnrolledService[];
  tokens: { hash: string; expiresAt: number }[];
  /** Absent in files written before API keys existed. */
  apiKeys?: ApiKeyRecord[];
}

/** API keys start with this, so a leaked one is recognisable (and never starts with "-"). */
export const API_KEY_PREFIX = "pkak_";

export interface RegistryOptions {
  /** JSON file holding services and token digests; undefined keeps them in memory only. */
  path?: string;
  /** Services enrolled at most (revoked ones count). Default 10,000. */
  maxServices?: number;
  /** Unused tokens at most. Default 1,000. */
  maxTokens?: number;
  /** API keys at most (revoked ones count). Default 1,000. */
  maxApiKeys?: number;
  now?: () => number;
}

export const digest = (token: string) => createHash("sha256").update(token).digest("hex");

/** Reads the file; refuses one that others may read, since it holds every service's key. */
function load(path: string): Stored {
  // every change rewrites it: a folder others could change is refused now, not at the first enrollment
  try {
    trustedPath(dirname(resolve(path)), "folder");
  } catch (error) {
    if (error instanceof UnsafePathError && existsSync(dirname(resolve(path)))) throw new ConfigError(`the services file ${path} is refused: ${error.message}`, { cause: error });
  }
  if (!existsSync(path)) return { version: 1, services: [], tokens: [] };
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(`the services file ${path} holds keys but others may read it (mode ${mode.toString(8)}); run chmod 600 ${path}`);
  }
  try {
    const data = JSON.parse(readFileSync(path, "utf8")) as Stored;
    if (data.version !== 1 || !Array.isArray(data.services) || !Array.isArray(data.tokens)) throw new Error("unknown layout");
    if (data.apiKeys !== undefined && !Array.isArray(data.apiKeys)) throw new Error("unknown layout of apiKeys");
    return data;
  } catch (error) {
    throw new ConfigError(`the services file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/** A registry backed by `options.path` (or memory); the file is rewritten atomically on every change. */
export function serviceRegistry(options: RegistryOptions = {}): ServiceRegistry {
  const maxServices = options.maxServices ?? 10_000;
  const maxTokens = options.maxTokens ?? 1_000;
  const maxApiKeys = options.maxApiKeys ?? 1_000;
  const now = options.now ?? Date.now;
  const state: Stored = options.path ? load(options.path) : { version: 1, services: [], tokens: [] };
  state.apiKeys ??= [];
  const apiKeys = state.apiKeys;
  const keys = new Map(state.services.filter((s) => s.revokedAt === undefined).map((s) => [s.id, s.key]));
  const apiSummary = ({ digest: _digest, webhookSecret: _secret, ...rest }: ApiKeyRecord): ApiKeySummary => rest;
  // Looked up by the digest of the presented key: a map lookup on a SHA-256 digest reveals nothing usable
  // about the key through timing.
  /** Digests of keys presented lately (bounded): a revoked key still misses, since byDigest no longer holds it. */
  const digests = new Map<string, string>();
  const sighted = new Map<string, Sighting>();
  const byDigest = new Map(apiKeys.filter((k) => k.revokedAt === undefined).map((k) => [k.digest, apiSummary(k)]));

  const save = () => {
    if (options.path) writeAtomically(options.path, `${JSON.stringify(state, null, 2)}\n`);
  };
  const summary = ({ key: _key, ...rest }: EnrolledService): ServiceSummary => rest;
  const pruneTokens = () => {
    const t = now();
    state.tokens = state.tokens.filter((x) => x.expiresAt > t);
  };

  return {
    name: options.path ? "file" : "memory",
    async issueToken(ttlMs) {
      pruneTokens();
      if (state.tokens.length >= maxTokens) throw new CapacityError(`${maxTokens} enrollment tokens are waiting to be used; let some expire first`);
      // A letter first: a token that began with "-" would read as an option on a command line.
      const token = `pket_${randomId(32)}`;
      const expiresAt = now() + ttlMs;
      state.tokens.push({ hash: digest(token), expiresAt });
      save();
      return { token, expiresAt };
    },
    async enroll(token, name) {
      pruneTokens();
      const hash = digest(token);
      // The digests are compared as map-free string equality on fixed-length hex of a secret's hash:
      // timing reveals at most a prefix of a SHA-256 digest, not of the token.
      const index = state.tokens.findIndex((x) => x.hash === hash);
      if (index < 0) throw new UnauthorizedError("BAD_TOKEN", "the enrollment token is unknown, used or expired");
      if (state.services.length >= maxServices) throw new CapacityError(`the server has ${maxServices} enrolled services already`);
      state.tokens.splice(index, 1);
      const service: EnrolledService = { id: randomWordId(12), name, key: randomId(32), createdAt: now() };
      state.services.push(service);
      keys.set(service.id, service.key);
      save();
      return { serviceId: service.id, key: service.key };
    },
    keyOf: async (serviceId) => keys.get(serviceId),
    async revoke(serviceId) {
      const service = state.services.find((s) => s.id === serviceId);
      if (!service) throw new NotFoundError(`no enrolled service has id ${serviceId}`);
      service.revokedAt ??= now();
      keys.delete(serviceId);
      save();
      return summary(service);
    },
    list: async () => state.services.map(summary),
    // In memory only (this instance's view since it started): writing the services file per sighting is not worth it.
    async noteSeen(serviceId, seen) {
      if (keys.has(serviceId)) sighted.set(serviceId, seen); // enrolled services only: bounded by maxServices
    },
    sightings: async () => new Map(sighted),
    async issueApiKey(name, origin, webhook) {
      if (apiKeys.length >= maxApiKeys) throw new CapacityError(`the server has ${maxApiKeys} API keys already; revoke unused ones`);
      const key = `${API_KEY_PREFIX}${randomId(32)}`;
      const record: ApiKeyRecord = { id: `ak_${randomId(9)}`, name, origin, digest: digest(key), createdAt: now() };
      if (webhook !== undefined) Object.assign(record, { webhook, webhookSecret: webhookSecret() });
      apiKeys.push(record);
      byDigest.set(record.digest, apiSummary(record));
      save();
      return { ...apiSummary(record), key, ...(record.webhookSecret === undefined ? {} : { webhookSecret: record.webhookSecret }) };
    },
    async webhookOf(apiKeyId) {
      const record = apiKeys.find((k) => k.id === apiKeyId);
      if (!record || record.revokedAt !== undefined || record.webhook === undefined || record.webhookSecret === undefined) return undefined;
      return { url: record.webhook, secret: record.webhookSecret };
    },
    apiKeyOf: async (key) => {
      if (!key.startsWith(API_KEY_PREFIX)) return undefined;
      // A backend presents the same key on every call: remember its digest (the hash is most of the lookup).
      let hashed = digests.get(key);
      if (hashed === undefined) {
        if (digests.size >= 1024) digests.clear();
        digests.set(key, (hashed = digest(key)));
      }
      return byDigest.get(hashed);
    },
    async revokeApiKey(id) {
      const record = apiKeys.find((k) => k.id === id);
      if (!record) throw new NotFoundError(`no API key has id ${id}`);
      record.revokedAt ??= now();
      byDigest.delete(record.digest);
      save();
      return apiSummary(record);
    },
    listApiKeys: async () => apiKeys.map(apiSummary),
  };
}

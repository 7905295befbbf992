// The server's credentials in one file (or only in memory): enrolled services and the SaaS backends' API keys
// (the contract is ServiceRegistry in ../types.ts; Redis keeps them for several instances: ../redis/registry.ts).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeAtomically } from "../../../lib/atomic-file.ts";
import { CapacityError, ConfigError, NotFoundError, UnauthorizedError, UnsafePathError } from "../../../lib/errors.ts";
import { trustedPath } from "../../../lib/trusted-path.ts";
import { randomId, randomWordId } from "../../../protocol/code.ts";
import { webhookSecret } from "../../webhooks/index.ts";
import {
  API_KEY_PREFIX,
  type ApiKeyRecord,
  type ApiKeySummary,
  digest,
  type EnrolledService,
  type RegistryOptions,
  type ServiceRegistry,
  type ServiceSummary,
  type Sighting,
} from "../types.ts";

interface Stored {
  version: 1;
  services: EnrolledService[];
  tokens: { hash: string; expiresAt: number }[];
  /** Absent in files written before API keys existed. */
  apiKeys?: ApiKeyRecord[];
}

/** Reads the file; refuses one that others may read, since it holds every service's key. */
function load(path: string): Stored {
  // every change rewrites it: a folder others could change is refused now, not at the first enrollment
  try {
    trustedPath(dirname(resolve(path)), "folder");
  } catch (error) {
    if (error instanceof UnsafePathError && existsSync(dirname(resolve(path))))
      throw new ConfigError(`the services file ${path} is refused: ${error.message}`, { cause: error });
  }
  if (!existsSync(path)) return { version: 1, services: [], tokens: [] };
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(
      `the services file ${path} holds keys but others may read it (mode ${mode.toString(8)}); run chmod 600 ${path}`,
    );
  }
  try {
    const data = JSON.parse(readFileSync(path, "utf8")) as Stored;
    if (data.version !== 1 || !Array.isArray(data.services) || !Array.isArray(data.tokens))
      throw new Error("unknown layout");
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
      if (state.tokens.length >= maxTokens)
        throw new CapacityError(`${maxTokens} enrollment tokens are waiting to be used; let some expire first`);
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
      if (state.services.length >= maxServices)
        throw new CapacityError(`the server has ${maxServices} enrolled services already`);
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
      if (apiKeys.length >= maxApiKeys)
        throw new CapacityError(`the server has ${maxApiKeys} API keys already; revoke unused ones`);
      const key = `${API_KEY_PREFIX}${randomId(32)}`;
      const record: ApiKeyRecord = { id: `ak_${randomId(9)}`, name, origin, digest: digest(key), createdAt: now() };
      if (webhook !== undefined) Object.assign(record, { webhook, webhookSecret: webhookSecret() });
      apiKeys.push(record);
      byDigest.set(record.digest, apiSummary(record));
      save();
      return {
        ...apiSummary(record),
        key,
        ...(record.webhookSecret === undefined ? {} : { webhookSecret: record.webhookSecret }),
      };
    },
    async webhookOf(apiKeyId) {
      const record = apiKeys.find((k) => k.id === apiKeyId);
      if (
        !record ||
        record.revokedAt !== undefined ||
        record.webhook === undefined ||
        record.webhookSecret === undefined
      )
        return undefined;
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

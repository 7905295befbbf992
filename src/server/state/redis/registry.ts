// Enrolled services, enrollment tokens and API keys in Redis, so every instance signs, enrolls and revokes alike.
import { CapacityError, NotFoundError, UnauthorizedError } from "../../../lib/errors.ts";
import { randomId, randomWordId } from "../../../protocol/code.ts";
import {
  API_KEY_PREFIX,
  type ApiKeyRecord,
  type ApiKeySummary,
  digest,
  type RegistryOptions,
  type ServiceRegistry,
  type ServiceSummary,
  type Sighting,
} from "../types.ts";
import { keyspace, type RedisConnection } from "./connection.ts";
import { ENROLL, ISSUE_API_KEY, ISSUE_TOKEN, REVOKE } from "./scripts/index.ts";
import { replicated } from "./replicas.ts";
import { webhookSecret } from "../../webhooks/index.ts";

type Hash = Record<string, string>;

/** A hash as Redis answers it: a flat field, value list (RESP2, and from scripts) or an object (RESP3). */
const pairs = (reply: unknown): Hash => {
  if (!Array.isArray(reply)) return (reply ?? {}) as Hash;
  const out: Hash = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[reply[i]!] = reply[i + 1]!;
  return out;
};

const serviceOf = (h: Hash): ServiceSummary => ({
  id: h.id!,
  name: h.name!,
  createdAt: Number(h.createdAt),
  ...(h.revokedAt === undefined ? {} : { revokedAt: Number(h.revokedAt) }),
});

const apiKeyOfHash = (h: Hash): ApiKeySummary => ({
  ...serviceOf(h),
  origin: h.origin!,
  ...(h.webhook === undefined ? {} : { webhook: h.webhook }),
});

export interface RedisRegistryOptions extends Omit<RegistryOptions, "path"> {
  /**
   * How long an instance trusts a key it found, in ms: the bound on how late a revocation made on another
   * instance takes effect here (on the revoking instance, at once). 0 asks Redis on every request. Default 1,000.
   */
  lookupCacheMs?: number;
}

/** Lookups remembered at most, per kind; past it the cache starts afresh. */
const MAX_CACHED = 10_000;

/**
 * A registry in Redis. Services and API keys never expire (revoked ones stay, marked); tokens expire with
 * their lifetime. A key found is trusted for lookupCacheMs (a second): every signed or backend request
 * would otherwise wait for one more round trip to Redis; unknown and revoked keys are never cached, so a
 * new enrollment works at once everywhere.
 */
export function redisRegistry(redis: RedisConnection, options: RedisRegistryOptions = {}): ServiceRegistry {
  const maxServices = options.maxServices ?? 10_000;
  const maxTokens = options.maxTokens ?? 1_000;
  const maxApiKeys = options.maxApiKeys ?? 1_000;
  const now = options.now ?? Date.now;
  const cacheMs = options.lookupCacheMs ?? 1_000;
  type Entry<T> = { value: T; until: number; refreshing?: boolean };
  const serviceKeys = new Map<string, Entry<string>>();
  const apiKeysByDigest = new Map<string, Entry<ApiKeySummary>>();
  // Bumped by every revocation here: a lookup begun before one does not cache what it found.
  let generation = 0;
  const forget = (cache: Map<string, unknown>, id: string) => {
    cache.delete(id);
    generation++;
  };
  /** Looks `id` up with `load` and caches what it finds for cacheMs from the start of the lookup. */
  async function lookUp<T>(
    cache: Map<string, Entry<T>>,
    id: string,
    load: () => Promise<T | undefined>,
    t: number,
  ): Promise<T | undefined> {
    const begun = generation;
    const value = await load();
    if (value === undefined) cache.delete(id);
    else if (cacheMs > 0 && begun === generation) {
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(id, { value, until: t + cacheMs });
    }
    return value;
  }
  /**
   * The cached value of `id`, or what `load` finds (then cached when found). An entry used in the second half
   * of its life is looked up again in the background, so a key in steady use does not wait for Redis; none is
   * trusted past cacheMs from its lookup.
   */
  async function cached<T>(
    cache: Map<string, Entry<T>>,
    id: string,
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const hit = cache.get(id);
    const t = performance.now();
    if (!hit || hit.until <= t) return lookUp(cache, id, load, t);
    if (!hit.refreshing && hit.until - t < cacheMs / 2) {
      hit.refreshing = true;
      lookUp(cache, id, load, t).catch(() => (hit.refreshing = false));
    }
    return hit.value;
  }
  const p = keyspace(redis, "registry");
  const key = {
    token: (hash: string) => `${p}token:${hash}`,
    tokens: `${p}tokens`,
    services: `${p}services`,
    service: (id: string) => `${p}service:${id}`,
    apiKeys: `${p}api-keys`,
    apiKey: (hash: string) => `${p}api-key:${hash}`,
    apiKeyId: (id: string) => `${p}api-key-id:${id}`,
    seen: `${p}service-seen`,
  };
  const enroll = redis.script(ENROLL);
  const issueToken = redis.script(ISSUE_TOKEN);
  const revoke = redis.script(REVOKE);
  const issueApiKey = redis.script(ISSUE_API_KEY);

  /** Every member of `set` read as a hash; the commands go out together (bounded by the set's own maximum). */
  const hashes = async (set: string, keyOf: (member: string) => Promise<string | undefined> | string) => {
    const members = (await redis.command("SMEMBERS", [set])) as string[];
    const keys = await Promise.all(members.map(keyOf));
    const all = await Promise.all(
      keys.map(
        (k): Promise<Hash> => (k === undefined ? Promise.resolve({}) : redis.command("HGETALL", [k]).then(pairs)),
      ),
    );
    return all.filter((h) => h.id !== undefined);
  };

  return {
    name: "redis",
    async issueToken(ttlMs) {
      const token = `pket_${randomId(32)}`;
      const hash = digest(token);
      const expiresAt = now() + ttlMs;
      if ((await issueToken([key.token(hash), key.tokens], [hash, now(), expiresAt, maxTokens])) !== 1) {
        throw new CapacityError(`${maxTokens} enrollment tokens are waiting to be used; let some expire first`);
      }
      await replicated(redis, key.services);
      return { token, expiresAt };
    },
    async enroll(token, name) {
      const hash = digest(token);
      const id = randomWordId(12);
      const secret = randomId(32);
      const answer = await enroll(
        [key.token(hash), key.tokens, key.services, key.service(id)],
        [hash, now(), maxServices, id, name, secret],
      );
      if (answer === "BAD_TOKEN")
        throw new UnauthorizedError("BAD_TOKEN", "the enrollment token is unknown, used or expired");
      if (answer === "FULL") throw new CapacityError(`the server has ${maxServices} enrolled services already`);
      await replicated(redis, key.services); // answered 2xx only once a failover cannot lose it
      return { serviceId: id, key: secret };
    },
    keyOf: (serviceId) =>
      cached(serviceKeys, serviceId, async () => {
        const [secret, revokedAt] = (await redis.command("HMGET", [
          key.service(serviceId),
          "key",
          "revokedAt",
        ])) as Array<string | null>;
        return secret !== null && revokedAt === null ? secret : undefined;
      }),
    async revoke(serviceId) {
      forget(serviceKeys, serviceId);
      const h = await revoke([key.service(serviceId)], [now()]).finally(() => forget(serviceKeys, serviceId));
      if (!h) throw new NotFoundError(`no enrolled service has id ${serviceId}`);
      await replicated(redis, key.services);
      return serviceOf(pairs(h));
    },
    list: async () =>
      (await hashes(key.services, key.service)).map(serviceOf).sort((a, b) => a.createdAt - b.createdAt),
    async noteSeen(serviceId, seen) {
      // one field per enrolled service (only signed requests get here), so the hash is as bounded as they are
      await redis.command("HSET", [key.seen, serviceId, JSON.stringify(seen)]);
    },
    async sightings() {
      const raw = (await redis.command("HGETALL", [key.seen])) as unknown;
      const entries: Array<[string, string]> = Array.isArray(raw)
        ? Array.from({ length: raw.length / 2 }, (_, i) => [String(raw[2 * i]), String(raw[2 * i + 1])])
        : Object.entries((raw ?? {}) as Record<string, string>);
      const seen = new Map<string, Sighting>();
      for (const [id, json] of entries) {
        try {
          seen.set(id, JSON.parse(json) as Sighting);
        } catch {} // a field written by hand: not a sighting
      }
      return seen;
    },
    async issueApiKey(name, origin, webhook) {
      const secret = `${API_KEY_PREFIX}${randomId(32)}`;
      const record: ApiKeyRecord = { id: `ak_${randomId(9)}`, name, origin, digest: digest(secret), createdAt: now() };
      if (webhook !== undefined) Object.assign(record, { webhook, webhookSecret: webhookSecret() });
      const fields = Object.entries(record).flatMap(([k, v]) => [k, String(v)]);
      const added = await issueApiKey(
        [key.apiKeys, key.apiKey(record.digest), key.apiKeyId(record.id)],
        [maxApiKeys, record.id, record.digest, ...fields],
      );
      if (added !== 1) throw new CapacityError(`the server has ${maxApiKeys} API keys already; revoke unused ones`);
      await replicated(redis, key.services);
      const { digest: _digest, webhookSecret: signing, ...summary } = record;
      return { ...summary, key: secret, ...(signing === undefined ? {} : { webhookSecret: signing }) };
    },
    // Looked up at every delivery attempt, not cached: deliveries are few, and a revocation stops them at once.
    async webhookOf(apiKeyId) {
      const hash = (await redis.command("GET", [key.apiKeyId(apiKeyId)])) as string | null;
      if (hash === null) return undefined;
      const [url, signing, revokedAt] = (await redis.command("HMGET", [
        key.apiKey(hash),
        "webhook",
        "webhookSecret",
        "revokedAt",
      ])) as Array<string | null>;
      return url && signing && revokedAt === null ? { url, secret: signing } : undefined;
    },
    async apiKeyOf(secret) {
      if (!secret.startsWith(API_KEY_PREFIX)) return undefined;
      const hash = digest(secret);
      return cached(apiKeysByDigest, hash, async () => {
        const h = pairs(await redis.command("HGETALL", [key.apiKey(hash)]));
        return h.id !== undefined && h.revokedAt === undefined ? apiKeyOfHash(h) : undefined;
      });
    },
    async revokeApiKey(id) {
      const hash = (await redis.command("GET", [key.apiKeyId(id)])) as string | null;
      if (hash === null) throw new NotFoundError(`no API key has id ${id}`);
      forget(apiKeysByDigest, hash);
      const h = await revoke([key.apiKey(hash)], [now()]).finally(() => forget(apiKeysByDigest, hash));
      if (!h) throw new NotFoundError(`no API key has id ${id}`);
      await replicated(redis, key.services);
      return apiKeyOfHash(pairs(h));
    },
    listApiKeys: async () => {
      const byId = async (id: string) => {
        const hash = (await redis.command("GET", [key.apiKeyId(id)])) as string | null;
        return hash === null ? undefined : key.apiKey(hash);
      };
      return (await hashes(key.apiKeys, byId)).map(apiKeyOfHash).sort((a, b) => a.createdAt - b.createdAt);
    },
  };
}

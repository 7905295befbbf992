// Whether the Redis every instance shares still holds what it held, and whether this version may share it: an epoch key (lost with the data), a loss flag every instance reads until an operator acknowledges it, the store format.
import { randomBytes } from "node:crypto";
import { ConfigError, StoreUnavailableError } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { VERSION } from "../../../version.ts";
import { keyspace, type RedisConnection } from "./connection.ts";

/**
 * The layout of what pkipc keeps in Redis (keys, records, scripts). Versions with the same format share a
 * Redis; bump it when a change makes one version misread another's data.
 */
export const STORE_FORMAT = 3;

export interface EpochWatch {
  /** Looks again now; throws StoreUnavailableError naming the loss while one is flagged and not acknowledged. */
  check(): Promise<void>;
  /** An operator has restored (or re-made) what was lost: clears the flag for every instance. False if none was set. */
  acknowledge(): Promise<boolean>;
  close(): void;
}

interface Loss {
  at: string;
  reason: string;
}

/**
 * Refuses (ConfigError) a Redis whose data another pkipc of another store format keeps, naming both
 * versions; then records this version's format. Run at start, once Redis answers.
 */
export async function claimFormat(redis: RedisConnection): Promise<void> {
  const key = `${keyspace(redis, "meta")}format`;
  const raw = await redis.command("GET", [key]);
  if (typeof raw === "string") {
    let other: { format?: unknown; version?: unknown } = {};
    try {
      other = JSON.parse(raw) as typeof other;
    } catch {}
    if (other.format !== STORE_FORMAT) {
      throw new ConfigError(
        `the Redis store ${redis.where} holds the data of pkipc ${String(other.version ?? "unknown")} (store format ${String(other.format ?? "unknown")}); this is pkipc ${VERSION} (store format ${STORE_FORMAT}), which cannot share it: stop the instances of one version, or give this one another Redis or database`,
      );
    }
  }
  await redis.command("SET", [key, JSON.stringify({ format: STORE_FORMAT, version: VERSION })]);
}

/**
 * Watches the epoch key every `intervalMs` (default 5,000) and on every check(). A key that was there and
 * is gone means Redis lost its data (restarted without persistence, flushed, failed over to an empty
 * replica): the first instance to see it sets the loss flag, which every instance reports on /healthz
 * (503) until `pkipc admin acknowledge-data-loss`. A loss while no instance runs cannot be told from a
 * first start.
 */
export function watchEpoch(redis: RedisConnection, log: Logger, intervalMs = 5_000): EpochWatch {
  const epochKey = `${keyspace(redis, "meta")}epoch`;
  const lossKey = `${keyspace(redis, "meta")}data-lost`;
  let mine: string | undefined;
  let reported: string | undefined; // the loss already logged, so the log says it once
  let loss: Loss | undefined;

  async function adopt(): Promise<void> {
    await redis.command("SET", [epochKey, randomBytes(12).toString("base64url"), "NX"]);
    const now = await redis.command("GET", [epochKey]);
    mine = typeof now === "string" ? now : undefined;
  }

  async function look(): Promise<void> {
    if (mine === undefined) return adopt(); // first contact (Redis was away at start): nothing to compare with
    let [epoch, flagged] = (await redis.command("MGET", [epochKey, lossKey])) as [unknown, unknown];
    if (epoch === null || epoch === undefined) {
      const found: Loss = {
        at: new Date().toISOString(),
        reason:
          "its epoch key is gone: Redis restarted without persistence, was flushed, or failed over to an empty replica",
      };
      await redis.command("SET", [lossKey, JSON.stringify(found), "NX"]);
      await claimFormat(redis).catch(() => {}); // the format key went with the rest
      await adopt();
      flagged = await redis.command("GET", [lossKey]);
    } else if (epoch !== mine) {
      mine = String(epoch); // another instance saw the loss first and made the new epoch
    }
    if (typeof flagged === "string") {
      try {
        loss = JSON.parse(flagged) as Loss;
      } catch {
        loss = { at: "unknown", reason: "flagged" };
      }
      if (reported !== flagged) {
        reported = flagged;
        log.error(
          `the Redis store lost its data (${loss.reason}) at ${loss.at}: enrolled services, API keys and sessions made before then are gone; re-enroll services and issue API keys again, then run pkipc admin acknowledge-data-loss`,
          { store: redis.where },
        );
      }
    } else {
      if (loss) log.info("the Redis data loss was acknowledged by an operator", { store: redis.where });
      loss = undefined;
      reported = undefined;
    }
  }

  // A Redis away is reported by the connection and by /healthz's ping: the watch only says what it found.
  const quietly = () => look().catch(() => {});
  void quietly();
  const timer = setInterval(quietly, intervalMs);
  timer.unref?.();

  return {
    async check() {
      await look();
      if (loss) {
        throw new StoreUnavailableError(
          `the Redis store lost its data at ${loss.at} (${loss.reason}); after restoring services and API keys, acknowledge with pkipc admin acknowledge-data-loss`,
        );
      }
    },
    async acknowledge() {
      const removed = Number(await redis.command("DEL", [lossKey]));
      await look();
      return removed > 0;
    },
    close: () => clearInterval(timer),
  };
}

// The server's metrics (prom-client): decorators around the session logic, the store and the guard, so the
// routes stay as they are and nothing is counted unless --metrics-listen asks for it.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { PkipcError } from "../lib/errors.ts";
import { addProcessMetrics } from "../lib/process-metrics.ts";
import type { Guard } from "./guard.ts";
import type { Sessions } from "./sessions.ts";
import type { SessionStore } from "./state/types.ts";

export interface ServerMetrics {
  registry: Registry;
  /** Wraps the session logic: sessions issued, reports by outcome and reason, long polls held, 503s. */
  sessions(inner: Sessions): Sessions;
  /** Wraps the store: links and time to link, live sessions, store errors. */
  store(inner: SessionStore): SessionStore;
  /** Wraps the guard: the 401 and 429 answers it causes. */
  guard(inner: Guard): Guard;
}

/** Statuses counted as refusals: not signed or wrong signature, over a limit, over capacity. */
const REFUSALS = new Set([401, 429, 503]);

export function serverMetrics(): ServerMetrics {
  const registry = new Registry();
  addProcessMetrics(registry, "server");
  const registers = [registry];
  const issued = new Counter({
    name: "pkipc_server_sessions_issued_total",
    help: "Sessions (knock codes) issued",
    registers,
  });
  const links = new Counter({
    name: "pkipc_server_links_total",
    help: "Sessions linked by a service's report",
    registers,
  });
  const timeToLink = new Histogram({
    name: "pkipc_server_time_to_link_seconds",
    help: "From a session's creation to its link",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  const reports = new Counter({
    name: "pkipc_server_reports_total",
    help: "Reports handled, by outcome (linked, not_linked, refused) and reason (the answer's or the error's code)",
    labelNames: ["outcome", "reason"],
    registers,
  });
  const refusals = new Counter({
    name: "pkipc_server_refused_requests_total",
    help: "Requests answered 401 (signature), 429 (rate or replay limits) or 503 (capacity), by status and code",
    labelNames: ["status", "code"],
    registers,
  });
  const polls = new Gauge({
    name: "pkipc_server_long_polls",
    help: "Long polls held now (session status and instruction pulls)",
    registers,
  });
  const storeErrors = new Counter({
    name: "pkipc_server_store_errors_total",
    help: "Store calls that failed (not capacity refusals)",
    labelNames: ["call"],
    registers,
  });
  let liveOf: (() => Promise<number>) | undefined;
  new Gauge({
    name: "pkipc_server_live_sessions",
    help: "Sessions pending now (issued, neither linked nor expired)",
    registers,
    async collect() {
      if (liveOf) this.set(await liveOf().catch(() => Number.NaN));
    },
  });

  const refused = (error: unknown) => {
    if (error instanceof PkipcError && REFUSALS.has(error.status))
      refusals.inc({ status: String(error.status), code: error.code });
  };
  async function counted<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      refused(error);
      throw error;
    }
  }
  async function held<T>(waitMs: number, work: () => Promise<T>): Promise<T> {
    if (waitMs <= 0) return counted(work);
    polls.inc();
    try {
      return await counted(work);
    } finally {
      polls.dec();
    }
  }

  return {
    registry,
    sessions: (inner) => ({
      ...inner,
      create: (who, charges) => counted(() => inner.create(who, charges)).then((offer) => (issued.inc(), offer)),
      status: (id, options) => held(options?.waitMs ?? 0, () => inner.status(id, options)),
      pull: (linkId, waitMs, signal, serviceId) => held(waitMs, () => inner.pull(linkId, waitMs, signal, serviceId)),
      queueInstruction: (id, request, viewer) => counted(() => inner.queueInstruction(id, request, viewer)),
      async report(report, address, serviceId, charges) {
        try {
          const answer = await inner.report(report, address, serviceId, charges);
          reports.inc(
            answer.linked ? { outcome: "linked", reason: "LINKED" } : { outcome: "not_linked", reason: answer.code },
          );
          return answer;
        } catch (error) {
          reports.inc({ outcome: "refused", reason: error instanceof PkipcError ? error.code : "INTERNAL" });
          refused(error);
          throw error;
        }
      },
    }),
    store(inner) {
      liveOf = () => inner.liveCount();
      const call =
        <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          try {
            return await fn(...args);
          } catch (error) {
            if (!(error instanceof PkipcError)) storeErrors.inc({ call: name });
            throw error;
          }
        };
      return {
        name: inner.name,
        insert: call("insert", (r, gate) => inner.insert(r, gate)),
        get: call("get", (id) => inner.get(id)),
        getByLink: call("getByLink", (id) => inner.getByLink(id)),
        find: call("find", (codes, charges) => inner.find(codes, charges)),
        changed: call("changed", (id, version, signal) => inner.changed(id, version, signal)),
        liveCount: call("liveCount", () => inner.liveCount()),
        close: call("close", () => inner.close()),
        replace: call("replace", async (record, expected, hold) => {
          // a link is the one change from pending to linked: look at the record it replaces
          const before = record.state === "linked" ? await inner.get(record.id) : undefined;
          const done = await inner.replace(record, expected, hold);
          if (done && before?.state === "pending" && record.linkedAt !== undefined) {
            links.inc();
            timeToLink.observe(Math.max(0, record.linkedAt - record.createdAt) / 1000);
          }
          return done;
        }),
      };
    },
    guard(inner) {
      const wrap =
        <A extends unknown[], R>(fn: (...args: A) => R) =>
        (...args: A): R => {
          try {
            const result = fn(...args);
            if (result instanceof Promise) return result.catch((error) => (refused(error), Promise.reject(error))) as R;
            return result;
          } catch (error) {
            refused(error);
            throw error;
          }
        };
      return {
        ...inner,
        signedBody: (schema) => wrap(inner.signedBody(schema)),
        signedNoBody: wrap(inner.signedNoBody),
        requireAdmin: wrap(inner.requireAdmin),
        limitEnroll: wrap(inner.limitEnroll),
      };
    },
  };
}

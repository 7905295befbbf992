// Payloads of enrollment and of the admin endpoints (kept apart from schemas.ts: only operators and services use them).
import { type Static, Type as T } from "@sinclair/typebox";

const Secret = T.String({ minLength: 16, maxLength: 128, pattern: "^[A-Za-z0-9_-]+$" });
const ServiceId = T.String({ minLength: 8, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });

/** POST /v1/admin/tokens answer: a one-time enrollment token. */
export const EnrollToken = T.Object(
  { token: Secret, expiresAt: T.String({ maxLength: 40 }) },
  { additionalProperties: false },
);
export type EnrollToken = Static<typeof EnrollToken>;

/** POST /v1/enroll body: a service spends a token. */
export const EnrollRequest = T.Object(
  { token: Secret, name: T.String({ minLength: 1, maxLength: 128, pattern: "^[\\x20-\\x7e]+$" }) },
  { additionalProperties: false },
);
export type EnrollRequest = Static<typeof EnrollRequest>;

/** POST /v1/enroll answer: the service's id and key, shown once. */
export const EnrollAnswer = T.Object(
  { serviceId: ServiceId, key: T.String({ minLength: 43, maxLength: 43, pattern: "^[A-Za-z0-9_-]+$" }) },
  {
    additionalProperties: false,
  },
);
export type EnrollAnswer = Static<typeof EnrollAnswer>;

/** An enrolled service as an operator sees it (never its key). */
export const ServiceSummary = T.Object(
  {
    id: ServiceId,
    name: T.String(),
    createdAt: T.String(),
    revokedAt: T.Optional(T.String()),
    /** The last signed request seen from it (by any instance on Redis; by this instance on memory), and from where. */
    lastSeenAt: T.Optional(T.String()),
    address: T.Optional(T.String()),
    /** The pkipc version it named then; absent for services of 0.2. */
    version: T.Optional(T.String()),
  },
  { additionalProperties: false },
);
export type ServiceSummary = Static<typeof ServiceSummary>;

export const ServiceList = T.Object({ services: T.Array(ServiceSummary) }, { additionalProperties: false });

export const ServiceIdParam = T.Object({ id: ServiceId });

/** POST /v1/admin/api-keys body: a SaaS backend's name and the web origin of its pages. */
export const ApiKeyRequest = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: 128, pattern: "^[\\x20-\\x7e]+$" }),
    origin: T.String({ minLength: 8, maxLength: 256, pattern: "^https?://[^\\s/?#@]+$" }),
    /** Where the server POSTs this key's signed session events (Standard Webhooks); the server checks it further. */
    webhook: T.Optional(T.String({ minLength: 8, maxLength: 2048, pattern: "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$" })),
  },
  { additionalProperties: false },
);
export type ApiKeyRequest = Static<typeof ApiKeyRequest>;

/** An API key as an operator sees it (never the key). */
export const ApiKeySummary = T.Object(
  {
    id: T.String(),
    name: T.String(),
    origin: T.String(),
    webhook: T.Optional(T.String()),
    createdAt: T.String(),
    revokedAt: T.Optional(T.String()),
  },
  { additionalProperties: false },
);
export type ApiKeySummary = Static<typeof ApiKeySummary>;

/** POST /v1/admin/api-keys answer: the key, and the webhook's signing secret if a webhook was named, shown once. */
export const ApiKeyAnswer = T.Composite(
  [
    ApiKeySummary,
    T.Object({
      key: T.String({ minLength: 40, maxLength: 64 }),
      webhookSecret: T.Optional(T.String({ pattern: "^whsec_[A-Za-z0-9+/=]+$" })),
    }),
  ],
  { additionalProperties: false },
);
export type ApiKeyAnswer = Static<typeof ApiKeyAnswer>;

export const ApiKeyList = T.Object({ apiKeys: T.Array(ApiKeySummary) }, { additionalProperties: false });

/** POST /v1/admin/data-loss/acknowledge: whether a data-loss flag was cleared. */
export const DataLossAnswer = T.Object({ acknowledged: T.Boolean() }, { additionalProperties: false });

export const ApiKeyIdParam = T.Object({ id: T.String({ minLength: 4, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }) });

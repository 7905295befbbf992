// Enrollment and the admin endpoints: tokens, enrolling a service, listing and revoking services and API keys.
import { Elysia } from "elysia";
import type { Logger } from "../lib/log.ts";
import {
  ApiKeyAnswer,
  ApiKeyIdParam,
  ApiKeyList,
  ApiKeyRequest,
  ApiKeySummary,
  DataLossAnswer,
  EnrollAnswer,
  EnrollRequest,
  EnrollToken,
  ServiceIdParam,
  ServiceList,
  ServiceSummary,
} from "../protocol/enrollment.ts";
import type { ApiKeySummary as StoredApiKey, ServiceSummary as StoredSummary, Sighting } from "./state/types.ts";
import { type Guard, jsonBody } from "./guard.ts";
import { checkWebhookUrl } from "./webhooks/index.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const view = (s: StoredSummary) => ({
  id: s.id,
  name: s.name,
  createdAt: iso(s.createdAt),
  ...(s.revokedAt === undefined ? {} : { revokedAt: iso(s.revokedAt) }),
});
const keyView = (k: StoredApiKey) => ({
  ...view(k),
  origin: k.origin,
  ...(k.webhook === undefined ? {} : { webhook: k.webhook }),
});
const seenView = (seen: Sighting | undefined) =>
  seen ? { lastSeenAt: iso(seen.at), address: seen.address, ...(seen.version ? { version: seen.version } : {}) } : {};

/** The routes, as an Elysia plugin mounted by createApp; errors go through the app's onError. */
export function adminRoutes(
  guard: Guard,
  log: Logger,
  addressOf: (request: Request, server: any) => string,
  acknowledgeLoss: () => Promise<boolean> = async () => false,
) {
  const { registry } = guard;
  const admin = (request: Request, server: unknown) => guard.requireAdmin(request, addressOf(request, server));
  // Every route awaits admin(): a refused secret throws before anything is read or changed.
  return new Elysia({ name: "pkipc-admin" })
    .post(
      "/v1/admin/tokens",
      async ({ request, server, set }) => {
        await admin(request, server);
        const { token, expiresAt } = await registry.issueToken(guard.settings.tokenTtlMs);
        log.info("enrollment token issued", { expiresAt: iso(expiresAt) }); // never the token itself
        set.status = 201;
        return { token, expiresAt: iso(expiresAt) };
      },
      {
        response: { 201: EnrollToken },
        detail: { summary: "Admin: a one-time enrollment token (Authorization: Bearer ADMIN_SECRET)" },
      },
    )
    .get(
      "/v1/admin/services",
      async ({ request, server }) => {
        await admin(request, server);
        const [services, sightings] = await Promise.all([registry.list(), registry.sightings()]);
        return { services: services.map((s) => ({ ...view(s), ...seenView(sightings.get(s.id)) })) };
      },
      { response: { 200: ServiceList }, detail: { summary: "Admin: enrolled services, without their keys" } },
    )
    .delete(
      "/v1/admin/services/:id",
      async ({ request, server, params }) => {
        await admin(request, server);
        const revoked = await registry.revoke(params.id);
        log.info("service revoked", { service: params.id, name: revoked.name });
        return view(revoked);
      },
      {
        params: ServiceIdParam,
        response: { 200: ServiceSummary },
        detail: { summary: "Admin: revoke a service; its signed requests fail from now on" },
      },
    )
    .post(
      "/v1/admin/api-keys",
      async ({ request, server, body, set }) => {
        await admin(request, server);
        const webhook = body.webhook === undefined ? undefined : checkWebhookUrl(body.webhook);
        const issued = await registry.issueApiKey(body.name, body.origin, webhook);
        // never the key nor the webhook secret
        log.info("API key issued", {
          id: issued.id,
          name: issued.name,
          origin: issued.origin,
          ...(webhook ? { webhook: new URL(webhook).origin } : {}),
        });
        set.status = 201;
        return {
          ...keyView(issued),
          key: issued.key,
          ...(issued.webhookSecret === undefined ? {} : { webhookSecret: issued.webhookSecret }),
        };
      },
      {
        // The secret before the body: a wrong or missing secret is 401 (and counted) whatever the body's type.
        parse: async (context) => {
          await admin(context.request, context.server);
          return jsonBody(context);
        },
        body: ApiKeyRequest,
        response: { 201: ApiKeyAnswer },
        detail: {
          summary:
            "Admin: an API key for a SaaS backend whose pages are at `origin`, optionally with a `webhook` URL (key and webhook secret shown once)",
        },
      },
    )
    .get(
      "/v1/admin/api-keys",
      async ({ request, server }) => {
        await admin(request, server);
        return { apiKeys: (await registry.listApiKeys()).map(keyView) };
      },
      { response: { 200: ApiKeyList }, detail: { summary: "Admin: API keys, without the keys themselves" } },
    )
    .delete(
      "/v1/admin/api-keys/:id",
      async ({ request, server, params }) => {
        await admin(request, server);
        const revoked = await registry.revokeApiKey(params.id);
        log.info("API key revoked", { id: params.id, name: revoked.name });
        return keyView(revoked);
      },
      {
        params: ApiKeyIdParam,
        response: { 200: ApiKeySummary },
        detail: { summary: "Admin: revoke an API key; requests with it fail from now on" },
      },
    )
    .post(
      "/v1/admin/data-loss/acknowledge",
      async ({ request, server }) => {
        await admin(request, server);
        const acknowledged = await acknowledgeLoss();
        if (acknowledged) log.warn("an operator acknowledged the Redis data loss");
        return { acknowledged };
      },
      {
        response: { 200: DataLossAnswer },
        detail: {
          summary:
            "Admin: the Redis store's lost data was restored or re-made; /healthz answers 200 again (acknowledged false: no loss was flagged)",
        },
      },
    )
    .post(
      "/v1/enroll",
      async ({ request, server, body, set }) => {
        await guard.limitEnroll(addressOf(request, server));
        const credentials = await registry.enroll(body.token, body.name);
        log.info("service enrolled", { service: credentials.serviceId, name: body.name });
        set.status = 201;
        return credentials;
      },
      {
        parse: jsonBody,
        body: EnrollRequest,
        response: { 201: EnrollAnswer },
        detail: { summary: "A service spends a one-time token for its id and key" },
      },
    );
}

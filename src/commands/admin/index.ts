// `pkipc admin token|services|revoke ID`: the operator's side of enrollment, against a running server.
import { apiRoot, apiUrl } from "../protocol/endpoint.ts";
import { defineCommand } from "citty";
import type { CommandEnv } from "../lib/command-env.ts";
import { boundedFetch } from "../lib/bounded-fetch.ts";
import { ConfigError } from "../lib/errors.ts";
import { duration, httpUrl, originList, resolveOptions, text, toCittyArgs } from "../lib/options.ts";
import { decode } from "../protocol/codec.ts";
import { ApiKeyAnswer, ApiKeyList, ApiKeySummary, DataLossAnswer, EnrollToken, ServiceList, ServiceSummary } from "../protocol/enrollment.ts";
import { ErrorBody } from "../protocol/schemas.ts";
import type { TSchema, Static } from "@sinclair/typebox";

export const adminOptions = {
  server: { description: "The pkipc server's URL", env: "PKIPC_SERVER", default: "http://127.0.0.1:7870", parse: httpUrl },
  adminSecret: { description: "The server's admin secret (prefer the variable: flags show in ps)", env: "PKIPC_ADMIN_SECRET", parse: text },
  timeout: { description: "Deadline of the request", default: "10s", parse: duration(100, 600_000) },
  json: { description: "services, api-keys: print the list as JSON", flag: true, parse: () => true },
  webhook: { description: "api-key: POST this key's signed session events (Standard Webhooks) to this http(s) URL", env: "PKIPC_API_KEY_WEBHOOK", parse: httpUrl },
  origin: { description: "api-key: the web origin of the SaaS pages that knock this key's sessions, e.g. https://saas.example", env: "PKIPC_API_KEY_ORIGIN", parse: (raw: string, name: string) => originList(raw, name)[0] ?? "" },
} as const;

async function call<S extends TSchema>(
  schema: S,
  base: URL,
  secret: string,
  method: string,
  path: string,
  timeoutMs: number,
  body?: unknown,
): Promise<Static<S>> {
  const url = apiUrl(apiRoot(base), path);
  const { response, text: answer } = await boundedFetch(
    url,
    {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
    { timeoutMs },
  );
  if (!response.ok) {
    let message = `${url.pathname} answered ${response.status}`;
    try {
      message = decode(ErrorBody, answer, "json").error.message;
    } catch {}
    throw new ConfigError(message);
  }
  return decode(schema, answer, "json");
}

export default defineCommand({
  meta: {
    name: "admin",
    description: "Operator: token, services, revoke, api-key (--webhook URL), api-keys, revoke-api-key, acknowledge-data-loss",
  },
  args: toCittyArgs(adminOptions),
  async run({ args, rawArgs, data }) {
    const { env, print } = data as CommandEnv;
    const o = resolveOptions(adminOptions, args, rawArgs, env);
    const [action, id] = (args._ ?? []) as string[];
    if (!o.adminSecret) throw new ConfigError("the admin secret is needed: set PKIPC_ADMIN_SECRET");
    if (action === "token") {
      const { token, expiresAt } = await call(EnrollToken, o.server, o.adminSecret, "POST", "/v1/admin/tokens", o.timeout);
      print(token);
      print(`# one use, until ${expiresAt}: pkipc service --server ${o.server.origin} --enroll TOKEN`);
    } else if (action === "services") {
      const list = await call(ServiceList, o.server, o.adminSecret, "GET", "/v1/admin/services", o.timeout);
      if (o.json) print(JSON.stringify(list, null, 2));
      for (const s of o.json ? [] : list.services) {
        const seen = s.lastSeenAt ? `  last seen ${s.lastSeenAt} from ${s.address ?? "?"} (pkipc ${s.version ?? "0.2 or older"})` : "  never seen";
        print(`${s.id}  ${s.name}  enrolled ${s.createdAt}${s.revokedAt ? `  REVOKED ${s.revokedAt}` : ""}${seen}`);
      }
    } else if (action === "revoke" && id) {
      const s = await call(ServiceSummary, o.server, o.adminSecret, "DELETE", `/v1/admin/services/${encodeURIComponent(id)}`, o.timeout);
      print(`revoked ${s.id} (${s.name})`);
    } else if (action === "api-key" && id) {
      if (!o.origin) throw new ConfigError("name the web origin of the SaaS pages with --origin, e.g. --origin https://saas.example");
      const body = { name: id, origin: o.origin, ...(o.webhook ? { webhook: o.webhook.href } : {}) };
      const k = await call(ApiKeyAnswer, o.server, o.adminSecret, "POST", "/v1/admin/api-keys", o.timeout, body);
      print(k.key);
      print(`# API key ${k.id} "${k.name}" for pages of ${k.origin}; shown once: keep it in the SaaS backend's secrets (PKIPC_API_KEY)`);
      if (k.webhookSecret) {
        print(k.webhookSecret);
        print(`# webhook secret for ${k.webhook}; shown once: the backend verifies every event with it (Standard Webhooks)`);
      }
    } else if (action === "api-keys") {
      const list = await call(ApiKeyList, o.server, o.adminSecret, "GET", "/v1/admin/api-keys", o.timeout);
      if (o.json) print(JSON.stringify(list, null, 2));
      for (const k of o.json ? [] : list.apiKeys) print(`${k.id}  ${k.name}  ${k.origin}${k.webhook ? `  webhook ${k.webhook}` : ""}  made ${k.createdAt}${k.revokedAt ? `  REVOKED ${k.revokedAt}` : ""}`);
    } else if (action === "revoke-api-key" && id) {
      const k = await call(ApiKeySummary, o.server, o.adminSecret, "DELETE", `/v1/admin/api-keys/${encodeURIComponent(id)}`, o.timeout);
      print(`revoked API key ${k.id} (${k.name})`);
    } else if (action === "acknowledge-data-loss") {
      const { acknowledged } = await call(DataLossAnswer, o.server, o.adminSecret, "POST", "/v1/admin/data-loss/acknowledge", o.timeout);
      print(acknowledged ? "acknowledged: /healthz answers 200 again on every instance" : "no data loss was flagged");
    } else {
      throw new ConfigError(
        "say what to do: pkipc admin token | services | revoke SERVICE_ID | api-key NAME --origin URL [--webhook URL] | api-keys | revoke-api-key KEY_ID | acknowledge-data-loss",
      );
    }
  },
});

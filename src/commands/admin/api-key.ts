// `pkipc admin api-key NAME --origin URL`: a SaaS backend's API key (and its webhook secret), shown once.
import { defineCommand } from "citty";
import { ConfigError } from "../../lib/errors.ts";
import { httpUrl, originList, toCittyArgs } from "../../lib/options.ts";
import { adminCall, adminOptions, positional } from "./options.ts";

const own = {
  webhook: {
    description: "POST this key's signed session events (Standard Webhooks) to this http(s) URL",
    env: "PKIPC_API_KEY_WEBHOOK",
    parse: httpUrl,
  },
  origin: {
    description: "The web origin of the SaaS pages that knock this key's sessions, e.g. https://saas.example",
    env: "PKIPC_API_KEY_ORIGIN",
    parse: (raw: string, name: string) => originList(raw, name)[0] ?? "",
  },
} as const;

export const apiKeyOptions = { ...adminOptions, ...own };

export default defineCommand({
  meta: {
    name: "api-key",
    description: "Issue an API key for a SaaS backend: pkipc admin api-key NAME --origin URL [--webhook URL]",
  },
  args: {
    ...toCittyArgs(apiKeyOptions),
    name: { type: "positional", description: "The SaaS backend's name", required: false },
  },
  async run({ args, rawArgs, data }) {
    const { o, api, print } = adminCall(own, args, rawArgs, data, 1);
    const name = positional(args, "SaaS backend", "pkipc admin api-key NAME --origin URL");
    if (!o.origin)
      throw new ConfigError("name the web origin of the SaaS pages with --origin, e.g. --origin https://saas.example");
    const k = await api.admin.issueApiKey({
      name,
      origin: o.origin,
      ...(o.webhook ? { webhook: o.webhook.href } : {}),
    });
    print(k.key);
    print(
      `# API key ${k.id} "${k.name}" for pages of ${k.origin}; shown once: keep it in the SaaS backend's secrets (PKIPC_API_KEY)`,
    );
    if (k.webhookSecret) {
      print(k.webhookSecret);
      print(
        `# webhook secret for ${k.webhook}; shown once: the backend verifies every event with it (Standard Webhooks)`,
      );
    }
  },
});

// What every `pkipc admin` action takes (the server, its admin secret, a deadline) and the API client they share.
import type { CommandEnv } from "../env.ts";
import { ConfigError } from "../../lib/errors.ts";
import { type OptionSpecs, type ResolvedOptions, resolveOptions, text } from "../../lib/options.ts";
import { apiClient } from "../../protocol/api-client.ts";
import { serverOption, timeoutOption } from "../options.ts";

export const adminOptions = {
  server: serverOption,
  adminSecret: {
    description: "The server's admin secret (prefer the variable: flags show in ps)",
    env: "PKIPC_ADMIN_SECRET",
    parse: text,
  },
  timeout: timeoutOption("Deadline of the request"),
} as const;

/**
 * The options of one action (the common ones and its own), resolved, with an API client that carries the
 * admin secret; throws ConfigError when the secret is not given.
 */
export function adminCall<S extends OptionSpecs>(
  own: S,
  args: Record<string, unknown>,
  rawArgs: string[],
  data: unknown,
  /** Arguments that are not options the action takes (revoke's SERVICE_ID). */
  positionals = 0,
): { o: ResolvedOptions<typeof adminOptions & S>; api: ReturnType<typeof apiClient>; print: (line: string) => void } {
  const { env, print } = data as CommandEnv;
  const o = resolveOptions({ ...adminOptions, ...own }, args, rawArgs, env, positionals) as ResolvedOptions<
    typeof adminOptions & S
  >;
  if (!(o as ResolvedOptions<typeof adminOptions>).adminSecret)
    throw new ConfigError("the admin secret is needed: set PKIPC_ADMIN_SECRET");
  const common = o as ResolvedOptions<typeof adminOptions>;
  return { o, api: apiClient(common.server, { adminSecret: common.adminSecret, timeoutMs: common.timeout }), print };
}

/** The one positional argument an action needs (an id, a name); ConfigError naming it when absent. */
export function positional(args: Record<string, unknown>, what: string, usage: string): string {
  const value = ((args._ ?? []) as string[])[0];
  if (!value) throw new ConfigError(`name the ${what}: ${usage}`);
  return value;
}

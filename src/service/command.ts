// `pkipc service`: hold the port range on this machine and report knocks to the server until stopped.
import { defineCommand } from "citty";
import type { CommandEnv } from "../lib/command-env.ts";
import { ConfigError } from "../lib/errors.ts";
import { duration, httpUrl, portList, resolveOptions, toCittyArgs } from "../lib/options.ts";
import { startService } from "./index.ts";

/** Knocks only ever come from this machine, so the service never listens beyond loopback. */
function loopbackHost(raw: string, name: string): string {
  if (/^127(\.\d{1,3}){3}$/.test(raw) || raw === "::1") return raw;
  throw new ConfigError(`${name} must be a loopback address (127.0.0.0/8 or ::1), not "${raw}"`);
}

export const serviceOptions = {
  server: { description: "The pkipc server's URL", env: "PKIPC_SERVER", default: "http://127.0.0.1:7870", parse: httpUrl },
  skip: { description: "Ports of the range not to bind (simulates ports held by others), P1,P2,...", env: "PKIPC_SKIP", default: "", parse: portList },
  host: { description: "Loopback address to hold the range on", env: "PKIPC_SERVICE_HOST", default: "127.0.0.1", parse: loopbackHost },
  idle: { description: "Override the server's idle gap before an incomplete burst is reported", env: "PKIPC_IDLE", parse: duration(10, 60_000) },
} as const;

export default defineCommand({
  meta: { name: "service", description: "Listen on the knock range, attribute each knock to its process, report to the server" },
  args: toCittyArgs(serviceOptions),
  async run({ args, rawArgs, data }) {
    const { env, log, waitForSignal } = data as CommandEnv;
    const o = resolveOptions(serviceOptions, args, rawArgs, env);
    const service = await startService({ server: o.server, skip: o.skip, host: o.host, idleMs: o.idle }, log.child({ role: "service" }));
    await waitForSignal();
    await service.stop();
  },
});

// `pkipc client`: knock like a browser would and report whether a service linked the session.
import { defineCommand } from "citty";
import { transports } from "../../plugins/transport/index.ts";
import type { CommandEnv } from "./env.ts";
import { ConfigError, describeError, PkipcError } from "../lib/errors.ts";
import { oneOf, originList, resolveOptions, text, toCittyArgs } from "../lib/options.ts";
import { jsonOption, serverOption, timeoutOption } from "./options.ts";
import type { InstructionRequest } from "../protocol/schemas.ts";
import type { ClientResult } from "../client/index.ts";

/** One web origin as a browser states it: scheme://host[:port], read as a list of one. */
function webOrigin(raw: string, name: string): string {
  const origins = originList(raw, name);
  if (origins.length !== 1) throw new ConfigError(`${name} must be one web origin such as https://saas.example`);
  return origins[0]!;
}

/** NAME or NAME:KEY=VALUE,KEY=VALUE */
function instruction(raw: string, name: string): InstructionRequest[] {
  if (raw === "") return [];
  const match = /^([a-z][a-z0-9-]{0,63})(?::(.*))?$/.exec(raw);
  if (!match)
    throw new ConfigError(`${name} must be NAME or NAME:KEY=VALUE,... (for example log:message=hello), not "${raw}"`);
  const args: Record<string, string> = {};
  for (const pair of match[2] ? match[2].split(",") : []) {
    const eq = pair.indexOf("=");
    if (eq < 1) throw new ConfigError(`${name}: "${pair}" is not KEY=VALUE`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return [{ name: match[1]!, args }];
}

export const clientOptions = {
  server: serverOption,
  transport: {
    description: "How to knock: tcp, http or ws",
    env: "PKIPC_TRANSPORT",
    default: "tcp",
    parse: oneOf(Object.keys(transports) as (keyof typeof transports)[]),
  },
  pace: {
    description: "Knock every port of the code at once (together), or tuple by tuple as each connects (tuples)",
    default: "together",
    parse: oneOf(["together", "tuples"] as const),
  },
  format: {
    description: "Session format to ask for: json or xml",
    default: "json",
    parse: oneOf(["json", "xml"] as const),
  },
  timeout: timeoutOption("How long to wait for the link", "PKIPC_TIMEOUT"),
  apiKey: {
    description:
      "The SaaS backend's API key: create the session as a backend would, see who linked it, queue instructions (prefer the variable: flags show in ps)",
    env: "PKIPC_API_KEY",
    parse: text,
  },
  origin: {
    description:
      "The web origin each knock states (an Origin header, as a browser page's knocks carry it); default: the session's own",
    env: "PKIPC_ORIGIN",
    parse: webOrigin,
  },
  address: {
    description:
      "The user's address to state for the session, as a SaaS backend does (needs --api-key); default: the one the server sees",
    parse: text,
  },
  instruction: {
    description: "Queue an instruction for the service, NAME[:KEY=VALUE,...] (needs --api-key)",
    default: "",
    parse: instruction,
  },
  json: jsonOption("Print the result as JSON"),
} as const;

/** How many knocks landed, and how many the transport could not tell (a WebSocket, like a browser's, cannot). */
function knocksText(result: ClientResult): string {
  const { sent, landed, refused } = result.knocks;
  const unknown = sent - landed - refused;
  if (unknown === sent) return `${sent} knocks sent (${result.transport} cannot tell whether each landed)`;
  return `${landed}/${sent} knocks landed${unknown > 0 ? `, ${unknown} unknown` : ""}`;
}

function describe(result: ClientResult): string {
  if (!result.linked) return `not linked: ${result.reason}`;
  const p = result.process;
  const lines = [
    p
      ? `linked in ${result.timeToLinkMs?.toFixed(1)} ms: pid ${p.pid} (${p.name}, ${p.exe || "exe unknown"}) user ${p.user}${result.origin ? ` origin ${result.origin}` : ""}`
      : `linked in ${result.timeToLinkMs?.toFixed(1)} ms (who linked is shown to the SaaS backend only: pass --api-key to see it)`,
    `code ${result.tuples.map((t) => t.join(",")).join(" | ")} via ${result.transport}, ${knocksText(result)}`,
  ];
  for (const i of result.instructions)
    lines.push(`instruction ${i.name}: ${i.state}${i.result ? ` (${i.result})` : ""}`);
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "client", description: "Get a knock code from a server, knock it on 127.0.0.1, wait for the link" },
  args: toCittyArgs(clientOptions),
  async run({ args, rawArgs, data }) {
    const { env, print, setExitCode } = data as CommandEnv;
    const o = resolveOptions(clientOptions, args, rawArgs, env);
    // Open the connection to the server (and start Bun's HTTP client, ~4 ms cold) while the client's
    // modules load, as a web page has its connection open from loading itself.
    // A head start only: a server it cannot reach now (a name that does not resolve throws here, as "Invalid
    // port") is said by the request itself, with the URL and a clear sentence.
    try {
      fetch.preconnect(o.server);
    } catch {}
    const { runClient } = await import("../client/index.ts");
    let result: Awaited<ReturnType<typeof runClient>>;
    try {
      result = await runClient({
        server: o.server,
        transport: transports[o.transport],
        format: o.format,
        pace: o.pace,
        timeoutMs: o.timeout,
        instructions: o.instruction,
        ...(o.apiKey ? { apiKey: o.apiKey } : {}),
        ...(o.origin ? { origin: o.origin } : {}),
        ...(o.address ? { address: o.address } : {}),
      });
    } catch (error) {
      // The server refused or could not be reached: not linked, like any other failure of the exchange.
      if (!(error instanceof PkipcError) || error instanceof ConfigError) throw error;
      process.stderr.write(`pkipc client: not linked: ${describeError(error)}\n`);
      // --json promises one object on stdout whatever happened: a caller parses it, not the error line
      if (o.json)
        print(
          JSON.stringify({
            linked: false,
            code: error.code,
            reason: `${error.code}: ${describeError(error)}`,
            clientPid: process.pid,
          }),
        );
      setExitCode(2);
      return;
    }
    // clientPid lets a caller check that the link names this very process (the Wine test does)
    print(o.json ? JSON.stringify({ ...result, clientPid: process.pid }) : describe(result));
    if (!result.linked) setExitCode(2);
  },
});

// `pkipc demo`: a server, a service and a client on loopback with free ports, end to end, then everything stops.
import { defineCommand } from "citty";
import { resolveOptions, toCittyArgs } from "../lib/options.ts";
import type { ClientResult } from "../client/index.ts";
import type { CommandEnv } from "./env.ts";
import { DemoError } from "../lib/errors.ts";
import { findFreeRange } from "../lib/ports.ts";
import { codeBits } from "../protocol/code.ts";
import { serverConfig } from "./server.ts";
import { startServer } from "../server/index.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { apiClient } from "../protocol/api-client.ts";
import { readKeyFile, writeKeyFile } from "../service/key-file.ts";
import { DEFAULT_BROWSERS } from "../service/policy.ts";
import { startService } from "../service/index.ts";
import { startDemoSaas } from "../demo/saas.ts";

const demoOptions = {
  keep: {
    description:
      "After the delivery, keep the server and service running for a browser: open the printed URL (Ctrl-C stops)",
    flag: true,
    parse: () => true,
  },
} as const;

export default defineCommand({
  meta: { name: "demo", description: "Run a server, a service and a client on loopback and show one key delivery" },
  args: toCittyArgs(demoOptions),
  async run({ args, rawArgs, data }) {
    const { env, log, print, self, setExitCode, waitForSignal } = data as CommandEnv;
    const o = resolveOptions(demoOptions, args, rawArgs, env); // an unknown option or argument is refused, as everywhere
    const quiet = log.child({});
    const range = findFreeRange(64);
    // Enrolled services and the service's key live in a private folder that is removed at the end.
    const folder = mkdtempSync(join(tmpdir(), "pkipc-demo-"));
    // The CLI's own defaults, on a free port and a free range: the demo runs what a user would.
    const { config } = serverConfig(
      { listen: "127.0.0.1:0", range: `${range.start}-${range.end}`, servicesFile: join(folder, "services.json") },
      [],
      {},
    );
    const server = await startServer(config, quiet.child({ role: "server" }));
    let service: Awaited<ReturnType<typeof startService>> | undefined;
    // The SaaS whose backend holds the API key and whose page knocks: sessions belong to its origin.
    const saas = startDemoSaas();
    server.allowOrigin(saas.url);
    try {
      print(
        `server   ${server.url}  range ${range.start}-${range.end}, codes of 3x4 ports (${codeBits(64, 12).toFixed(1)} bits)`,
      );
      const apiKey = await server.registry.issueApiKey("demo SaaS", saas.url);
      saas.connect(server.url, apiKey.key);
      print(`API key  id ${apiKey.id} (its secret stays in the demo) for the SaaS backend at ${saas.url}`);
      // Enrollment as an operator and a user would do it: a one-time token, spent by the service for its key.
      const { token } = await server.registry.issueToken(60_000);
      const keyFile = join(folder, "service.key");
      writeKeyFile(keyFile, await apiClient(server.url).enroll(token, "demo service"), server.url);
      const credentials = readKeyFile(keyFile);
      print(`enrolled service ${credentials.serviceId} (key in a file only this user can read)`);
      // Only browsers may link by default; the demo's knocker is this program, allowed by name.
      const allowProcesses = [...DEFAULT_BROWSERS, basename(self[0]!)];
      // The knocker is this program's own child: the service serves this user only (as root too).
      const uid = process.getuid?.();
      service = await startService(
        { server: server.url, credentials, allowProcesses, users: uid === undefined ? undefined : [uid] },
        quiet.child({ role: "service" }),
      );
      print(`service  pid ${process.pid} holding ${service.held.length} ports on 127.0.0.1`);
      // The client is a separate process, as a browser would be: the service must find it by its socket.
      const child = Bun.spawn(
        [...self, "client", "--server", server.url, "--json", "--instruction", "log:message=hello from the demo"],
        {
          stdout: "pipe",
          stderr: "inherit",
          // The client creates its session as the SaaS backend would; the key goes by environment, not argv.
          env: { ...process.env, PKIPC_API_KEY: apiKey.key },
        },
      );
      const timer = setTimeout(() => child.kill(), 20_000);
      const output = await new Response(child.stdout).text();
      await child.exited;
      clearTimeout(timer);
      let result: ClientResult;
      try {
        result = JSON.parse(output) as ClientResult;
      } catch {
        throw new DemoError(`the client printed no result (exit code ${child.exitCode})`);
      }
      print(
        `client   pid ${child.pid} knocked ${result.tuples.map((t) => t.join(",")).join(" | ")} over ${result.transport}`,
      );
      if (!result.linked) {
        print(`NOT LINKED: ${result.reason}`);
        setExitCode(1);
        return;
      }
      const p = result.process!;
      print(
        `linked   in ${result.timeToLinkMs?.toFixed(1)} ms: the service found pid ${p.pid} (${p.name}, ${p.exe}) of user ${p.user}, for ${result.origin ?? "no origin"}`,
      );
      for (const i of result.instructions) print(`delivered instruction "${i.name}" -> ${i.state}: ${i.result ?? ""}`);
      if (p.pid !== child.pid) {
        print(`MISMATCH: the service attributed the knocks to pid ${p.pid}, the client was ${child.pid}`);
        setExitCode(1);
        return;
      }
      if (o.keep) {
        print(
          `demo page ${saas.url}/  open it in a browser on this computer: the SaaS backend makes the session, the page knocks, the backend shows what the service found; Ctrl-C stops`,
        );
        await waitForSignal();
      }
    } finally {
      await service?.stop();
      await saas.stop();
      await server.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  },
});

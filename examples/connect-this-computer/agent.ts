// The local side of "Connect this computer": Acme's own app, which runs a pkipc service through the library
// and keeps the API key the SaaS sends it in a file only its user can read.
// Run once with a token, then without: bun examples/connect-this-computer/agent.ts SERVER_URL [ENROLL_TOKEN]
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createLogger, type LibraryService, startService } from "../../src/library/service.ts";

export interface AgentOptions {
  /** The pkipc server's URL. */
  server: string;
  /** Where Acme keeps its files: the pkipc key file and the API key it receives. */
  folder: string;
  /** A one-time enrollment token from the SaaS's operator, the first time. */
  enrollToken?: string;
  /** Uids whose browsers may link (default: the user running the agent). */
  users?: number[];
  /** Process names that may link (default: browsers). */
  allowProcesses?: readonly string[];
  /** Web origins whose sessions may link: the SaaS's own pages (default: any). */
  allowOrigins?: readonly string[];
  signal?: AbortSignal;
  quiet?: boolean;
}

/** Starts the agent; the key arrives as the "acme-key" instruction with one arg, `key`. */
export function startAgent(options: AgentOptions): Promise<LibraryService> {
  mkdirSync(options.folder, { recursive: true, mode: 0o700 });
  const keyPath = join(options.folder, "api-key");
  return startService({
    server: options.server,
    keyFile: join(options.folder, "pkipc-service.json"),
    ...(options.enrollToken ? { enrollToken: options.enrollToken, name: "Acme app" } : {}),
    ...(options.users ? { users: options.users } : {}),
    ...(options.allowProcesses ? { allowProcesses: options.allowProcesses } : {}),
    // Only the SaaS's own pages may deliver a key to this computer.
    ...(options.allowOrigins ? { allowOrigins: options.allowOrigins } : {}),
    handlers: {
      "acme-key": async (args, context) => {
        const key = args.key ?? "";
        if (!/^acme_[A-Za-z0-9_-]{16,64}$/.test(key)) return { ok: false, result: "that is not an Acme key" };
        // Written whole or not at all, readable by this user only.
        const temporary = `${keyPath}.${process.pid}.tmp`;
        writeFileSync(temporary, `${key}\n`, { mode: 0o600, flag: "wx" });
        chmodSync(temporary, 0o600);
        renameSync(temporary, keyPath);
        context.log.info("Acme key stored", {
          path: keyPath,
          origin: context.origin,
          browser: context.process.browser?.name,
        });
        // The path relative to the app's folder: where this user keeps files is none of the SaaS's business.
        return {
          ok: true,
          result: JSON.stringify({
            path: "api-key",
            sha256: createHash("sha256").update(key).digest("hex").slice(0, 16),
          }),
        };
      },
    },
    ...(options.quiet ? {} : { log: createLogger({}) }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

if (import.meta.main) {
  const [server, enrollToken] = process.argv.slice(2);
  const origin = process.env.ACME_ORIGIN; // e.g. https://acme.example: only its pages may deliver a key
  if (!server) {
    console.error("usage: bun examples/connect-this-computer/agent.ts SERVER_URL [ENROLL_TOKEN]");
    process.exit(64);
  }
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  const agent = await startAgent({
    server,
    folder: join(homedir(), ".acme"),
    ...(enrollToken ? { enrollToken } : {}),
    ...(origin ? { allowOrigins: [origin] } : {}),
    signal: stop.signal,
  });
  console.log(`Acme app: waiting for the browser to knock (holding ${agent.held.length} ports)`);
  await agent.stopped;
}

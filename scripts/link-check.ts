// A service and a client linked through the built binary on this machine (CI on Linux, macOS and Windows runners): server, enrollment, service, client, status.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { findFreeRange } from "../src/lib/ports.ts";

const exe = join(import.meta.dir, "..", "dist", process.platform === "win32" ? "pkipc.exe" : "pkipc");
const folder = mkdtempSync(join(tmpdir(), "pkipc-link-"));
const adminSecret = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
const started: Subprocess[] = [];
const env = { ...process.env, NO_COLOR: "1", PKIPC_ADMIN_SECRET: adminSecret, PKIPC_STATE_DIR: join(folder, "state") };

/** Resolves with the first match of `pattern` in the child's stderr, or fails after `ms` with what it printed. */
async function waitFor(
  child: Subprocess<"ignore", "pipe", "pipe">,
  pattern: RegExp,
  ms: number,
): Promise<RegExpMatchArray> {
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Bun.sleep(ms).then(() => undefined);
  for (;;) {
    const next = await Promise.race([reader.read(), deadline]);
    if (!next || next.done) throw new Error(`no ${pattern} within ${ms} ms; it printed:\n${text}`);
    text += decoder.decode(next.value, { stream: true });
    const match = text.match(pattern);
    if (match) {
      reader.releaseLock();
      void child.stderr.pipeTo(new WritableStream()); // keep draining, so the child never blocks on a full pipe
      return match;
    }
  }
}

function start(args: string[]) {
  const child = Bun.spawn([exe, ...args], { cwd: folder, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.push(child);
  return child;
}

async function run(args: string[], extra: Record<string, string> = {}, ms = 60_000) {
  const child = Bun.spawn([exe, ...args], {
    cwd: folder,
    env: { ...env, ...extra },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill(), ms);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function admin(url: string, path: string, body?: unknown): Promise<Record<string, string>> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminSecret}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, string>;
}

try {
  const range = findFreeRange(64);
  const server = start([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--range",
    `${range.start}-${range.end}`,
    "--services-file",
    join(folder, "services.json"),
  ]);
  const url = (await waitFor(server, /listening on (http:\/\/\S+)/, 30_000))[1]!;
  const { token } = await admin(url, "/v1/admin/tokens");
  const { key } = await admin(url, "/v1/admin/api-keys", { name: "ci", origin: new URL(url).origin });
  const users = process.getuid?.() === 0 ? ["--users", "0"] : [];
  const service = start([
    "service",
    "--server",
    url,
    "--enroll",
    token!,
    "--key-file",
    join(folder, "key.json"),
    "--allow-processes",
    "pkipc,pkipc.exe",
    ...users,
  ]);
  console.log((await waitFor(service, /holding \d+ of \d+ ports[^\n]*/, 30_000))[0]);
  const client = await run(
    ["client", "--server", url, "--json", "--timeout", "30s", "--instruction", "log:message=ci"],
    { PKIPC_API_KEY: key! },
  );
  const result = JSON.parse(client.stdout || "{}") as { linked?: boolean; reason?: string };
  if (!result.linked)
    throw new Error(`the client did not link (exit ${client.code}): ${client.stdout}${client.stderr}`);
  console.log("linked");
  const status = await run(["service", "status", "--json", "--key-file", join(folder, "key.json")]);
  if (status.code !== 0) throw new Error(`service status exited ${status.code}: ${status.stdout}${status.stderr}`);
  console.log(`status: ${status.stdout.trim()}`);
} catch (error) {
  console.error(`link check failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const child of started) child.kill();
  await Promise.all(started.map((c) => c.exited));
  rmSync(folder, { recursive: true, force: true });
}

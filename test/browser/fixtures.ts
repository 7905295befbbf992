// Fixtures for the real-browser tests: the real binary as server or service, a test certificate, and running link() in a page.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFreePort, findFreeRange } from "../../src/lib/ports.ts";
import { onCleanup, spawnPkipc } from "../helpers.ts";

/** A self-signed certificate for 127.0.0.1, made with openssl in a fresh directory. */
export async function makeCertificate(): Promise<{ certFile: string; keyFile: string; cert: string }> {
  const dir = mkdtempSync(join(tmpdir(), "pkipc-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const openssl = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (!openssl.success) throw new Error(`openssl could not make a test certificate: ${openssl.stderr.toString()}`);
  return { certFile, keyFile, cert: await Bun.file(certFile).text() };
}

/** Reads a child's stderr until `marker` shows up (bounded), so a test knows the process is ready. */
async function waitForOutput(stream: ReadableStream<Uint8Array>, marker: string, what: string, timeoutMs = 10_000): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  try {
    while (!text.includes(marker)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${what} did not start: ${text.trim() || "no output"}`);
      text += decoder.decode(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return text;
}

/** `pkipc server` from the compiled binary on a free port and range; https when a certificate is given. */
export async function binaryServer(tls?: { certFile: string; keyFile: string }) {
  const port = findFreePort();
  const range = findFreeRange(64);
  const args = ["server", "--listen", `127.0.0.1:${port}`, "--range", `${range.start}-${range.end}`];
  if (tls) args.push("--tls-cert", tls.certFile, "--tls-key", tls.keyFile);
  const child = spawnPkipc(args);
  await waitForOutput(child.stderr, "listening on", "pkipc server");
  return { url: `${tls ? "https" : "http"}://127.0.0.1:${port}`, port, range, pid: child.pid };
}

/** `pkipc service` from the compiled binary, ready once it holds the range. */
export async function binaryService(server: string, env: Record<string, string> = {}) {
  const child = spawnPkipc(["service", "--server", server], env);
  await waitForOutput(child.stderr, "holding", "pkipc service");
  return { pid: child.pid };
}

/** A second origin: a tiny server on another free port that serves `html` at / (a SaaS page embedding the module). */
export function otherOrigin(html: string) {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(html, { headers: { "content-type": "text/html" } }) });
  onCleanup(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

// Fixtures for the real-browser tests: the real binary as server or service, a test certificate, and running link() in a page.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onCleanup, serverProcess, serviceProcess, trustedCertificates } from "../helpers.ts";

/** A self-signed certificate for 127.0.0.1, made with openssl in a fresh directory. */
export async function makeCertificate(): Promise<{ certFile: string; keyFile: string; cert: string }> {
  const dir = mkdtempSync(join(tmpdir(), "pkipc-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const openssl = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (!openssl.success) throw new Error(`openssl could not make a test certificate: ${openssl.stderr.toString()}`);
  return { certFile, keyFile, cert: await Bun.file(certFile).text() };
}

/** `pkipc server` from the compiled binary on a free port and range (with an admin secret, to enroll services); https when a certificate is given. */
export async function binaryServer(tls?: { certFile: string; keyFile: string; cert: string }) {
  const server = await serverProcess(tls ? ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile] : []);
  if (tls) {
    trustedCertificates.set(server.url, tls.cert);
    onCleanup(() => void trustedCertificates.delete(server.url));
  }
  return { url: server.url, port: Number(new URL(server.url).port), range: server.range, pid: server.child.pid };
}

/** `pkipc service` from the compiled binary, enrolled, ready once it holds the range. */
export async function binaryService(server: string, env: Record<string, string> = {}) {
  const service = await serviceProcess(server, [], env);
  return { pid: service.child.pid };
}

/** A second origin: a tiny server on another free port that serves `html` at / (a SaaS page embedding the module). */
export function otherOrigin(html: string) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response(html, { headers: { "content-type": "text/html" } }),
  });
  onCleanup(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

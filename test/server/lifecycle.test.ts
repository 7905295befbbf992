// The server process's life: a taken --listen address stops it with one sentence; SIGTERM drains what is in flight.
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { onCleanup, runPkipc, serverProcess } from "../helpers.ts";

const TAKEN = /cannot listen on 127\.0\.0\.1:\d+: the address is already in use/;

describe("a taken --listen address", () => {
  test("a second pkipc server on a running one's address exits non-zero with one sentence", async () => {
    const first = await serverProcess();
    const address = new URL(first.url).host;
    const second = await runPkipc(
      ["server", "--listen", address, "--range", `${first.range.start}-${first.range.end}`],
      15_000,
    );
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(TAKEN);
    expect(
      second.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("pkipc")),
    ).toHaveLength(1);
    expect(second.stderr).not.toContain("listening on");
    // the first still answers
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  });

  test("an address another program holds stops the server too", async () => {
    const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    onCleanup(() => other.stop(true));
    const run = await runPkipc(["server", "--listen", `127.0.0.1:${other.port}`], 15_000);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(TAKEN);
  });
});

/** Sends the head and part of a body on a raw socket, returning a function that sends the rest and reads the answer. */
async function halfSent(url: string, path: string, body: string) {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  onCleanup(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => (socket.once("connect", resolve), socket.once("error", reject)));
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>(
    (resolve) => (socket.once("close", () => resolve()), socket.once("error", () => resolve())),
  );
  const half = Math.floor(body.length / 2);
  socket.write(
    `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body.slice(0, half)}`,
  );
  return async () => {
    socket.write(body.slice(half));
    await Promise.race([ended, Bun.sleep(10_000)]);
    return Buffer.concat(chunks).toString();
  };
}

describe("SIGTERM", () => {
  test("a report in flight at SIGTERM still gets its answer, and a held long poll answers", async () => {
    const server = await serverProcess(["--insecure-unsigned"]);
    const offer = (await (
      await fetch(`${server.url}/v1/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.apiKey}` },
      })
    ).json()) as { id: string };
    const poll = fetch(`${server.url}/v1/sessions/${offer.id}?wait=30&since=0`).then(async (r) => ({
      status: r.status,
      body: await r.text(),
    }));
    const report = {
      process: { pid: 1, ppid: 0, uid: 0, user: "root", exe: "/bin/x", name: "x" },
      claim: { strategy: "server-match", observed: [server.range.start], failed: [] },
    };
    const finish = await halfSent(server.url, "/v1/reports", JSON.stringify(report));
    await Bun.sleep(200);
    server.child.kill("SIGTERM");
    await Bun.sleep(300);
    const answer = await finish();
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('"linked":false');
    const polled = await poll;
    expect(polled.status).toBe(200);
    expect(JSON.parse(polled.body)).toMatchObject({ id: offer.id, state: "pending" });
    expect(await server.child.exited).toBe(0);
  });
});

// Long polls end with an HTTP answer: thousands held for --max-wait at once, and clients ask again when one is cut.
import { expect, test } from "bun:test";
import { onCleanup, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

/** One HTTP/1.1 GET on its own connection; resolves with the status code, or 0 when closed without an answer. */
function rawGet(url: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let data = "";
    const done = () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    };
    const timer = setTimeout(() => socket.then((s) => s.end()), timeoutMs);
    const socket = Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (s) => void s.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\n\r\n`),
        data: (_s, chunk) => void (data += chunk.toString()),
        close: done,
        error: done,
        connectError: done,
      },
    }).catch(() => (done(), undefined as never));
  });
}

test("2,000 concurrent polls of --max-wait (40 s, past the HTTP layer's old 30 s idle limit) each get an HTTP 200 answer", async () => {
  // Sessions made by the backend's API key; the polls are the pages' reads, all from one address here (so its
  // bound of polls held at once, 32 by default, is raised: this test is about the idle limit).
  const server = await serverProcess([
    "--api-key-session-rate",
    "0",
    "--read-rate",
    "0",
    "--max-polls-per-client",
    "2000",
    "--max-wait",
    "40s",
    "--ttl",
    "90s",
  ]);
  const ids: string[] = [];
  for (let batch = 0; batch < 2000 / 50; batch++) {
    const offers = await Promise.all(
      Array.from(
        { length: 50 },
        async () =>
          (
            (await (
              await fetch(`${server.url}/v1/sessions`, {
                method: "POST",
                headers: { authorization: `Bearer ${server.apiKey}` },
              })
            ).json()) as { id: string }
          ).id,
      ),
    );
    ids.push(...offers);
  }
  const started = performance.now();
  const polls: Promise<{ status: number; body: string; ms: number }>[] = [];
  for (let i = 0; i < ids.length; i++) {
    const t = performance.now();
    polls.push(
      rawGet(server.url, `/v1/sessions/${ids[i]}?wait=40&since=0`, 70_000).then((r) => ({
        ...r,
        ms: performance.now() - t,
      })),
    );
    if (i % 100 === 99) await Bun.sleep(20); // no accept-backlog storm: this test is about the idle limit
  }
  const answers = await Promise.all(polls);
  const byStatus = new Map<number, number>();
  for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  const times = answers.map((a) => a.ms).sort((a, b) => a - b);
  console.log(
    `2,000 polls of 40 s: answers ${JSON.stringify(Object.fromEntries(byStatus))}, held ${(times[0]! / 1000).toFixed(1)}-${(times.at(-1)! / 1000).toFixed(1)} s, all done after ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(byStatus.get(200)).toBe(2000);
  // the unchanged status, answered when the wait ran out
  for (const a of answers.slice(0, 20)) expect(JSON.parse(a.body)).toMatchObject({ state: "pending", version: 0 });
});

test("a poll past --max-wait's ceiling is refused at start: --max-wait above 60 s is a configuration error", async () => {
  const run = await runPkipc(["server", "--listen", "127.0.0.1:0", "--max-wait", "300s"], 15_000);
  expect(run.code).toBe(64);
  expect(run.stderr).toMatch(/max-wait/);
});

test("the CLI client asks again when a poll is closed without an answer, and links", async () => {
  const server = await serverProcess();
  await serviceProcess(server.url);
  // A proxy in front of the server that cuts the first two long polls: their connections go idle for 1 s and are closed.
  let cut = 0;
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(request, self) {
      const url = new URL(request.url);
      if (url.searchParams.has("wait") && cut < 2) {
        cut++;
        self.timeout(request, 1);
        return new Promise<Response>(() => {});
      }
      const target = new URL(url.pathname + url.search, server.url);
      const body = request.method === "GET" ? undefined : await request.arrayBuffer();
      return fetch(target, { method: request.method, headers: request.headers, body });
    },
  });
  onCleanup(() => void proxy.stop(true));
  const run = await runPkipc(
    ["client", "--server", `http://127.0.0.1:${proxy.port}`, "--json", "--timeout", "30s"],
    60_000,
    { PKIPC_API_KEY: server.apiKey },
  );
  expect(cut).toBe(2);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ linked: true });
});

// A hostile enrolled service floods the server with well-signed, refused XML bodies: refusals count against its
// limits, and /healthz and honest links keep working.
import { expect, test } from "bun:test";
import { apiClient } from "../../src/protocol/api-client.ts";
import { signRequest } from "../../src/protocol/signing.ts";
import { enrollmentToken, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";
import { HOSTILE_XML } from "../fixtures/hostile-xml.ts";
import { requestFrom } from "./tools.ts";

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ?? 0;

test("a hostile service's flood of refused XML is rate limited; /healthz and honest CLI links keep working", async () => {
  const server = await serverProcess();
  const hostile = await apiClient(server.url).enroll(await enrollmentToken(server.url), "hostile");
  await serviceProcess(server.url);
  const bodies = Object.values(HOSTILE_XML);
  const statuses = new Map<number, number>();
  const refusals: string[] = [];
  let flooding = true;
  let sent = 0;
  // from 127.0.0.2: the honest service reports from 127.0.0.1 and has its own address limit
  const flooder = async () => {
    while (flooding) {
      const body = bodies[sent++ % bodies.length]!;
      const headers = {
        "content-type": "application/xml",
        ...signRequest(hostile, { method: "POST", path: "/v1/reports", body }),
      };
      const answer = await requestFrom("127.0.0.2", server.url, "POST", "/v1/reports", { headers, body });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (refusals.length < 3 && answer.status === 400) refusals.push(answer.body);
    }
  };
  const health: number[] = [];
  const prober = async () => {
    while (flooding) {
      const start = performance.now();
      const response = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(200);
      health.push(performance.now() - start);
      await Bun.sleep(50);
    }
  };
  const floods = [...Array.from({ length: 8 }, flooder), prober()];
  const links: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      const run = await runPkipc(["client", "--server", server.url, "--json"]);
      links.push(performance.now() - start);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ linked: true });
    }
  } finally {
    flooding = false;
    await Promise.all(floods);
  }
  console.log(
    `hostile XML flood: ${sent} bodies sent, answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
      `/healthz p50 ${percentile(health, 0.5).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms over ${health.length}; ` +
      `honest links ${links.map((t) => t.toFixed(0)).join(", ")} ms`,
  );
  // every hostile body is refused: as bad XML (400) until its sender's budget is spent, then 429
  expect([...statuses.keys()].every((s) => s === 400 || s === 429)).toBe(true);
  expect(statuses.get(400)).toBeGreaterThan(0);
  expect(statuses.get(429)).toBeGreaterThan(0);
  for (const body of refusals) expect(JSON.parse(body).error.code).toBe("DECODE");
  expect(health.length).toBeGreaterThan(0);
});

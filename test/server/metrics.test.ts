// GET /metrics of the real binaries (server and service), each on its own --metrics-listen address: the counters move after a real link.
import { expect, test } from "bun:test";
import { VERSION } from "../../src/version.ts";
import { runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

/** The value of one sample line, e.g. `pkipc_server_links_total` or `pkipc_server_reports_total{outcome="linked",reason="LINKED"}`. */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

test("the server's /metrics: off the public port, and counting sessions, links, reports, refusals and polls", async () => {
  const server = await serverProcess(["--metrics-listen", "127.0.0.1:0"]);
  const metricsUrl = (await server.log.waitFor(/metrics on (http:\/\/\S+)/))[1]!;
  expect((await fetch(`${server.url}/metrics`)).status).toBe(404); // never on the public port
  const scrape = async () => {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    return response.text();
  };
  const before = await scrape();
  expect(before).toContain("# TYPE pkipc_server_time_to_link_seconds histogram");
  expect(sample(before, "pkipc_server_links_total")).toBe(0);

  const service = await serviceProcess(server.url, ["--metrics-listen", "127.0.0.1:0"]);
  const serviceMetricsUrl = /metrics on (http:\/\/\S+)/.exec(
    service.log.lines.find((l) => l.includes("metrics on")) ?? "",
  )?.[1];
  expect(serviceMetricsUrl).toBeDefined();
  const run = await runPkipc(["client", "--server", server.url, "--json"]);
  expect(run.code).toBe(0);
  // an unsigned report (401) and a burst of sessions past the per-address limit (429)
  expect(
    (
      await fetch(`${server.url}/v1/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      })
    ).status,
  ).toBe(401);
  // As pages of the server's own origin (no API key): the per-address session limit applies.
  const statuses = await Promise.all(
    Array.from({ length: 40 }, () =>
      fetch(`${server.url}/v1/sessions`, { method: "POST", headers: { origin: server.url } }).then((r) => r.status),
    ),
  );
  expect(statuses).toContain(429);

  // a long poll of our own, held while we scrape
  const id = JSON.parse(run.stdout).sessionId as string;
  const poll = fetch(`${server.url}/v1/sessions/${id}?wait=3&since=1000`);
  await Bun.sleep(300);
  const after = await scrape();
  expect((await poll).status).toBe(200);
  console.log(
    after
      .split("\n")
      .filter((l) => l.startsWith("pkipc_") && !l.includes("_bucket"))
      .join("\n"),
  );
  expect(sample(after, "pkipc_server_sessions_issued_total")).toBe(1 + statuses.filter((s) => s === 201).length);
  expect(sample(after, "pkipc_server_links_total")).toBe(1);
  expect(sample(after, "pkipc_server_time_to_link_seconds_count")).toBe(1);
  expect(sample(after, 'pkipc_server_reports_total{outcome="linked",reason="LINKED"}')).toBe(1);
  expect(sample(after, 'pkipc_server_refused_requests_total{status="429",code="RATE_LIMITED"}')).toBe(
    statuses.filter((s) => s === 429).length,
  );
  expect(
    sample(after, 'pkipc_server_refused_requests_total{status="401",code="UNSIGNED"}') +
      sample(after, 'pkipc_server_refused_requests_total{status="401",code="UNAUTHORIZED"}'),
  ).toBeGreaterThan(0);
  expect(sample(after, "pkipc_server_live_sessions")).toBe(statuses.filter((s) => s === 201).length);
  expect(sample(after, "pkipc_server_long_polls")).toBeGreaterThanOrEqual(1);

  // the service's side: the client's 12 knocks, each attributed and timed, and one linked report
  const side = await (await fetch(serviceMetricsUrl!)).text();
  console.log(
    side
      .split("\n")
      .filter((l) => l.startsWith("pkipc_") && !l.includes("_bucket"))
      .join("\n"),
  );
  expect(sample(side, 'pkipc_service_knocks_total{attributed="yes"}')).toBeGreaterThanOrEqual(12);
  expect(sample(side, "pkipc_service_attribution_seconds_count")).toBe(
    sample(side, 'pkipc_service_knocks_total{attributed="yes"}') +
      sample(side, 'pkipc_service_knocks_total{attributed="no"}'),
  );
  expect(sample(side, 'pkipc_service_reports_total{answer="linked"}')).toBe(1);

  // what an operator needs besides pkipc's own counters: which build runs, and the process's health
  for (const [role, text] of [
    ["server", after],
    ["service", side],
  ] as const) {
    expect(text).toMatch(
      new RegExp(
        `^pkipc_build_info\\{version="${VERSION.replaceAll(".", "\\.")}",role="${role}",runtime="bun [0-9.]+"\\} 1$`,
        "m",
      ),
    );
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    expect(sample(text, "process_open_fds")).toBeGreaterThan(0);
    expect(sample(text, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
  }
});

test("--metrics-listen on a taken address stops the server with one sentence", async () => {
  const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const run = await runPkipc(
      ["server", "--listen", "127.0.0.1:0", "--metrics-listen", `127.0.0.1:${other.port}`],
      15_000,
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/cannot serve metrics on 127\.0\.0\.1:\d+: the address is already in use/);
  } finally {
    other.stop(true);
  }
});

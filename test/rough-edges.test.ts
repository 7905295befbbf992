// Small rough edges of issue 9: Accept q-values, the XML error form, no subcommand, --skip of everything, help width.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decode, negotiate } from "../src/protocol/codec.ts";
import { ErrorBody } from "../src/protocol/schemas.ts";
import {
  enrollmentToken,
  runPkipc,
  serverProcess,
  serviceProcess,
  TEST_USER,
  tempFolder,
  testServer,
} from "./helpers.ts";

describe("Accept q-values", () => {
  test.each([
    ["application/json;q=0.5, application/xml", "xml"],
    ["application/xml;q=0.9, application/json;q=0.1", "xml"],
    ["application/xml;q=0.1, application/json;q=0.9", "json"],
    ["text/xml;q=1, application/json;q=0.8", "xml"],
    ["application/xml;q=0, application/json;q=0.1", "json"],
    ["application/xml;q=0", "json"],
    ["application/json, application/xml", "json"],
    ["*/*", "json"],
  ])("%p answers %p", (accept, format) => {
    expect(negotiate(undefined, accept)).toBe(format as "json" | "xml");
  });

  test("the server answers XML when Accept prefers it by q", async () => {
    const server = await testServer();
    const response = await fetch(`${server.url}/v1/config`, {
      headers: { accept: "application/json;q=0.5, application/xml;q=0.9" },
    });
    expect(response.headers.get("content-type")).toContain("application/xml");
    expect(await response.text()).toContain("<config>");
  });
});

test("an XML error is <error><code/><message/></error>, not nested twice", async () => {
  const server = await testServer();
  const response = await fetch(`${server.url}/v1/sessions/nosuchsession?format=xml`);
  expect(response.status).toBe(404);
  const text = await response.text();
  expect(text).not.toMatch(/<error>\s*<error>/);
  expect(text).toMatch(/<error>\s*<code>NOT_FOUND<\/code>\s*<message>[^<]+<\/message>\s*<\/error>/);
  expect(decode(ErrorBody, text, "xml").error.code).toBe("NOT_FOUND");
});

test("pkipc with no subcommand exits 64 with the usage on stderr", async () => {
  const run = await runPkipc([]);
  expect(run.code).toBe(64);
  expect(run.stdout).toBe("");
  expect(run.stderr).toContain("pkipc <role> --help");
  expect((await runPkipc(["--help"])).code).toBe(0);
});

describe("a service that can bind nothing says so in one sentence", () => {
  const others = (stderr: string) =>
    stderr
      .trim()
      .split("\n")
      .filter((line) => !line.includes("enrolled as"));

  test("--skip of every port", async () => {
    const server = await serverProcess();
    const all = Array.from(
      { length: server.range.end - server.range.start + 1 },
      (_, i) => server.range.start + i,
    ).join(",");
    const token = await enrollmentToken(server.url);
    const run = await runPkipc(
      [
        "service",
        "--server",
        server.url,
        "--key-file",
        join(tempFolder(), "k.json"),
        "--enroll",
        token,
        "--users",
        TEST_USER,
        "--skip",
        all,
      ],
      15_000,
    );
    expect(run.code).not.toBe(0);
    expect(others(run.stderr)).toEqual([
      `pkipc service: --skip leaves no port of ${server.range.start}-${server.range.end} to bind`,
    ]);
  });

  test("a second service on a held range", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const token = await enrollmentToken(server.url);
    const run = await runPkipc(
      [
        "service",
        "--server",
        server.url,
        "--key-file",
        join(tempFolder(), "k.json"),
        "--enroll",
        token,
        "--users",
        TEST_USER,
      ],
      15_000,
    );
    expect(run.code).not.toBe(0);
    const lines = others(run.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^pkipc service: could not bind any port of \d+-\d+ \(EADDRINUSE\); is another pkipc service running\?$/,
    );
  });
});

describe("help fits a terminal", () => {
  test.each(["server", "service", "client", "demo", "admin"])(
    "pkipc %s --help: no padded or overlong line, no empty default",
    async (role) => {
      const run = await runPkipc([role, "--help"], 15_000, { NO_COLOR: "1" });
      expect(run.code).toBe(0);
      const lines = run.stdout.split("\n");
      expect(lines.filter((l) => /[ \t]$/.test(l))).toEqual([]);
      expect(lines.filter((l) => l.length > 120)).toEqual([]);
      expect(run.stdout).not.toMatch(/\(default \)|default ;/);
    },
  );

  test("a long default list shows its first items and its count", async () => {
    const run = await runPkipc(["service", "--help"], 15_000, { NO_COLOR: "1" });
    expect(run.stdout).toMatch(/default\s+chromium,[^)]*\.\.\.\s+\(\d+\s+in\s+all\)/);
  });
});

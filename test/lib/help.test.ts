// Every --help of the real binary fits 80 columns (pipe and terminal), wraps between words, and names each variable.
import { describe, expect, test } from "bun:test";
import { adminOptions } from "../../src/commands/admin/options.ts";
import { apiKeyOptions } from "../../src/commands/admin/api-key.ts";
import { clientOptions } from "../../src/commands/client.ts";
import { serverOptions } from "../../src/commands/server.ts";
import { installOptions } from "../../src/commands/service/install.ts";
import { serviceOptions } from "../../src/commands/service/options.ts";
import type { OptionSpecs } from "../../src/lib/options.ts";
import { binary, runPkipc } from "../helpers.ts";

const COMMANDS: [string[], OptionSpecs][] = [
  [[], {}],
  [["server"], serverOptions as OptionSpecs],
  [["service"], serviceOptions as OptionSpecs],
  [["service", "install"], installOptions as OptionSpecs],
  [["service", "uninstall"], {}],
  [["service", "status"], {}],
  [["client"], clientOptions as OptionSpecs],
  [["demo"], {}],
  [["admin"], adminOptions as OptionSpecs],
  [["admin", "api-key"], apiKeyOptions as OptionSpecs],
  [["admin", "services"], adminOptions as OptionSpecs],
];

const tokens = (text: string) => new Set(text.split(/\s+/).filter(Boolean));

/** The help as a terminal of `columns` shows it: the binary run in a pty (script), colour codes removed. */
async function helpOnTerminal(args: string[], columns: number): Promise<string> {
  const command = `stty cols ${columns} rows 50; ${[binary(), ...args, "--help"].join(" ")}`;
  const child = Bun.spawn(["script", "-qec", command, "/dev/null"], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, NO_COLOR: undefined, TERM: "xterm" },
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await new Response(child.stdout).text();
  clearTimeout(timer);
  expect(await child.exited).toBe(0);
  return out.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r/g, "");
}

describe("--help", () => {
  test.each(COMMANDS.map(([args, specs]) => [args.join(" ") || "pkipc", args, specs] as const))(
    "%s: at most 80 columns when piped, words whole, every variable named",
    async (_, args, specs) => {
      const run = await runPkipc([...args, "--help"]);
      expect(run.code).toBe(0);
      const long = run.stdout.split("\n").filter((line) => line.length > 80);
      expect(long).toEqual([]);
      const words = tokens(run.stdout);
      for (const spec of Object.values(specs)) {
        if (spec.env) expect(words.has(spec.env) || words.has(`${spec.env})`)).toBe(true);
        // every word of the description whole: a wrap inside a word would leave two fragments instead
        for (const word of spec.description.split(/\s+/)) expect(run.stdout.replace(/\s+/g, " ")).toContain(word);
      }
      for (const name of ["PKIPC_LOG_LEVEL", "PKIPC_LOG_FORMAT"]) expect(words.has(name)).toBe(true);
    },
  );

  test.each([["server"], ["service"], ["admin"]])("pkipc %s --help on an 80-column terminal fits it", async (role) => {
    const text = await helpOnTerminal([role], 80);
    expect(text).toContain("--");
    expect(text.split("\n").filter((line) => line.length > 80)).toEqual([]);
  });

  test("a wider terminal may use its width", async () => {
    const text = await helpOnTerminal(["server"], 110);
    expect(Math.max(...text.split("\n").map((l) => l.length))).toBeGreaterThan(80);
    expect(text.split("\n").filter((line) => line.length > 110)).toEqual([]);
  });
});

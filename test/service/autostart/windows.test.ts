// The Windows Run-key entry: its command line survives Windows' own argument parsing, and reg.exe's answers are read right.
import { describe, expect, test } from "bun:test";
import {
  parseRegQuery,
  RUN_KEY,
  windowsAutostart,
  windowsCommandLine,
  windowsQuote,
} from "../../../src/service/autostart/windows.ts";
import { recordingRunner } from "./recording.ts";

/** CommandLineToArgvW's rules (also the Microsoft C runtime's), written from its documentation. */
function commandLineToArgv(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === "\\") {
        let n = 0;
        while (line[i] === "\\") n++, i++;
        if (line[i] === '"') {
          arg += "\\".repeat(n >> 1);
          if (n % 2) arg += '"';
          else quoted = !quoted;
        } else {
          arg += "\\".repeat(n);
          i--;
        }
      } else if (c === '"') quoted = !quoted;
      else if (!quoted && (c === " " || c === "\t")) break;
      else arg += c;
    }
    args.push(arg);
  }
  return args;
}

const program = "C:\\Program Files\\pkipc\\pkipc.exe";
const tricky = [
  "service",
  "--server",
  "http://127.0.0.1:7870",
  "--name",
  'say "hi"',
  "--key-file",
  "C:\\keys dir\\",
  "",
  "a\\\\b",
  "tab\there",
  "%USERPROFILE%",
];

describe("Windows Run-key entry", () => {
  test("the command line gives every argument back through CommandLineToArgvW", () => {
    const line = windowsCommandLine({ program, args: tricky });
    expect(commandLineToArgv(line)).toEqual([program, ...tricky]);
    expect(windowsQuote("plain")).toBe("plain");
    expect(line.startsWith('"C:\\Program Files\\pkipc\\pkipc.exe" service')).toBe(true);
  });

  test("a line break in an option is refused with a sentence", () => {
    expect(() => windowsCommandLine({ program, args: ["a\r\nb"] })).toThrow(/line break/);
  });

  test("reg query output (as reg.exe prints it) gives the value's data", () => {
    const out = `\r\n${RUN_KEY.replace("HKCU", "HKEY_CURRENT_USER")}\r\n    pkipc    REG_SZ    "C:\\Program Files\\pkipc\\pkipc.exe" service --server http://127.0.0.1:7870\r\n\r\n`;
    expect(parseRegQuery(out)).toBe('"C:\\Program Files\\pkipc\\pkipc.exe" service --server http://127.0.0.1:7870');
    expect(parseRegQuery("ERROR: The system was unable to find the specified registry key or value.")).toBeUndefined();
  });

  test("install writes the value once, status finds it and the running service (not itself), uninstall deletes exactly it", async () => {
    const registry = new Map<string, string>();
    const run = recordingRunner((argv) => {
      if (argv[0] === "tasklist")
        return {
          stdout: '"pkipc.exe","4100","Console","1","40,000 K"\r\n"pkipc.exe","4200","Console","1","30,000 K"\r\n',
        };
      const [, verb, key, , name, , , , data] = argv;
      if (key !== RUN_KEY) return { code: 1 };
      if (verb === "query")
        return registry.has(name!)
          ? { stdout: `\r\n${key}\r\n    ${name}    REG_SZ    ${registry.get(name!)}\r\n` }
          : { code: 1, stderr: "ERROR: The system was unable to find the specified registry key or value." };
      if (verb === "add") registry.set(name!, data!);
      if (verb === "delete") registry.delete(name!);
      return {};
    });
    const autostart = windowsAutostart({ home: "C:\\Users\\ada", configHome: "", uid: 0, run, program, selfPid: 4200 });
    const entry = { program, args: ["service", "--server", "http://127.0.0.1:7870"] };
    expect((await autostart.install(entry))[0]).toStartWith(`wrote ${RUN_KEY}\\pkipc`);
    expect((await autostart.install(entry))[0]).toContain("already installed");
    expect(commandLineToArgv(registry.get("pkipc")!)).toEqual([program, ...entry.args]);
    expect(await autostart.status()).toEqual({
      installed: true,
      running: true,
      detail: `installed in ${RUN_KEY}\\pkipc; running (pid 4100)`,
    });
    expect(await autostart.uninstall()).toEqual([`removed ${RUN_KEY}\\pkipc`]);
    expect(registry.size).toBe(0);
    expect(run.calls.filter((c) => c.startsWith("reg add") || c.startsWith("reg delete"))).toEqual([
      `reg add ${RUN_KEY} /v pkipc /t REG_SZ /d ${windowsCommandLine(entry)} /f`,
      `reg delete ${RUN_KEY} /v pkipc /f`,
    ]);
  });

  test("status says running is unknown when tasklist does not list the asking process itself (Wine's prints nothing)", async () => {
    for (const stdout of ["", '"pkipc.exe","4100","Console","1","40,000 K"\r\n']) {
      const run = recordingRunner((argv) =>
        argv[0] === "tasklist"
          ? { stdout }
          : { code: 1, stderr: "ERROR: The system was unable to find the specified registry key or value." },
      );
      const autostart = windowsAutostart({
        home: "C:\\Users\\ada",
        configHome: "",
        uid: 0,
        run,
        program,
        selfPid: 4200,
      });
      expect(await autostart.status()).toEqual({
        installed: false,
        running: undefined,
        detail: "not installed; whether it runs is unknown (tasklist did not list this process)",
      });
    }
  });
});

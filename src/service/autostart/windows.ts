// Windows autostart: a per-user logon entry, the value "pkipc" under HKCU\Software\Microsoft\Windows\CurrentVersion\Run, through reg.exe.
import { basename } from "node:path";
import { autostartName } from "../profile.ts";
import { type Autostart, type AutostartContext, type AutostartEntry, type AutostartPlan } from "./types.ts";
import { AutostartError } from "../../lib/errors.ts";

export const RUN_KEY = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run";
export const RUN_VALUE = "pkipc";
const DEFAULT_RUN_VALUE = RUN_VALUE;

/**
 * One argument of a Windows command line, quoted so CommandLineToArgvW and the C runtime give it
 * back unchanged: quotes around anything with a space, tab or quote (or nothing), backslashes
 * doubled only where they precede a quote.
 */
export function windowsQuote(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const c of arg) {
    if (c === "\\") {
      backslashes++;
      continue;
    }
    out += c === '"' ? `${"\\".repeat(backslashes * 2 + 1)}"` : `${"\\".repeat(backslashes)}${c}`;
    backslashes = 0;
  }
  return `${out}${"\\".repeat(backslashes * 2)}"`;
}

/** The Run value's data: the binary by absolute path and its options, as one command line. */
export function windowsCommandLine(entry: AutostartEntry): string {
  for (const word of [entry.program, ...entry.args]) {
    if (/[\0\r\n]/.test(word))
      throw new AutostartError(
        "an option for the installed service contains a line break or NUL, which a logon entry cannot hold",
      );
  }
  return [entry.program, ...entry.args].map(windowsQuote).join(" ");
}

/** The data of the "pkipc" value in `reg query` output, or undefined when it is not there. */
export function parseRegQuery(stdout: string, RUN_VALUE = DEFAULT_RUN_VALUE): string | undefined {
  const line = stdout.split(/\r?\n/).find((l) => new RegExp(`^\\s+${RUN_VALUE}\\s+REG_SZ\\s`, "i").test(l));
  return line?.replace(new RegExp(`^\\s+${RUN_VALUE}\\s+REG_SZ\\s{1,4}`, "i"), "");
}

/** The Run-key backend; `selfPid` (this process) is not counted as the running service. */
export function windowsAutostart(context: AutostartContext & { program: string; selfPid: number }): Autostart {
  // A profile's value is its own ("pkipc-acme"), so two products' entries stand side by side.
  const RUN_VALUE = autostartName(context.profile);
  const reg = (...args: string[]) => context.run(["reg", ...args]);
  const current = async () => {
    const r = await reg("query", RUN_KEY, "/v", RUN_VALUE);
    return r.code === 0 ? parseRegQuery(r.stdout, RUN_VALUE) : undefined;
  };
  return {
    name: "windows-run-key",
    plan(entry): AutostartPlan {
      const data = windowsCommandLine(entry);
      return {
        target: `${RUN_KEY}\\${RUN_VALUE}`,
        content: data,
        commands: [["reg", "add", RUN_KEY, "/v", RUN_VALUE, "/t", "REG_SZ", "/d", data, "/f"]],
      };
    },
    async install(entry) {
      const data = windowsCommandLine(entry);
      if ((await current()) === data) return [`${RUN_KEY}\\${RUN_VALUE} is already installed with these options`];
      const r = await reg("add", RUN_KEY, "/v", RUN_VALUE, "/t", "REG_SZ", "/d", data, "/f");
      if (r.code !== 0)
        throw new AutostartError(
          `reg add ${RUN_KEY} failed: ${(r.stderr || r.stdout).trim().split("\n")[0] || `exit ${r.code}`}`,
        );
      return [`wrote ${RUN_KEY}\\${RUN_VALUE}: the service starts at your next logon (start it now with: ${data})`];
    },
    async uninstall() {
      if ((await current()) === undefined) return [`${RUN_KEY}\\${RUN_VALUE} was not installed`];
      const r = await reg("delete", RUN_KEY, "/v", RUN_VALUE, "/f");
      if (r.code !== 0)
        throw new AutostartError(
          `reg delete ${RUN_KEY} /v ${RUN_VALUE} failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`,
        );
      return [`removed ${RUN_KEY}\\${RUN_VALUE}`];
    },
    async status() {
      const data = await current();
      const image = basename(context.program.replaceAll("\\", "/"));
      const t = await context.run(["tasklist", "/FI", `IMAGENAME eq ${image}`, "/FO", "CSV", "/NH"]);
      const listed =
        t.code === 0
          ? [...t.stdout.matchAll(/^"([^"]*)","(\d+)"/gm)]
              .filter((m) => m[1]!.toLowerCase() === image.toLowerCase())
              .map((m) => Number(m[2]))
          : [];
      // this process runs the same image, so a working tasklist lists it; Wine's prints nothing and exits 0
      const pids = listed.includes(context.selfPid) ? listed.filter((p) => p !== context.selfPid) : undefined;
      const running = pids === undefined ? undefined : pids.length > 0;
      const where = data === undefined ? "not installed" : `installed in ${RUN_KEY}\\${RUN_VALUE}`;
      const why = t.code === 0 ? "tasklist did not list this process" : "tasklist failed";
      const state =
        running === undefined
          ? `whether it runs is unknown (${why})`
          : running
            ? `running (pid ${pids!.join(", ")})`
            : "not running";
      return { installed: data !== undefined, running, detail: `${where}; ${state}` };
    },
  };
}

// wrk as the load: POST requests on many connections from a small C program, so the load itself costs the
// machine little; and the CPU a process spent, from /proc, which moves far less than a rate on a shared machine.
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The path of wrk; exits with the install hint when it is missing. */
export function wrkOrExit(): string {
  const path = Bun.which("wrk");
  if (!path) {
    console.error("wrk is missing: apt-get install wrk");
    process.exit(1);
  }
  return path;
}

/**
 * Runs wrk against `url` with POST requests (and a SaaS backend's API key when given, as pkipc's sessions are
 * made) on `connections` connections for `seconds`; what it reports.
 */
export async function wrk(
  url: string,
  options: { apiKey?: string; connections: number; seconds: number },
): Promise<{ rps: number; non2xx: number; requests: number }> {
  const script = join(tmpdir(), `pkipc-wrk-${process.pid}.lua`);
  await Bun.write(
    script,
    `wrk.method = "POST"\n${options.apiKey ? `wrk.headers["Authorization"] = "Bearer ${options.apiKey}"\n` : ""}`,
  );
  const args = ["-t2", `-c${options.connections}`, `-d${options.seconds}s`, "-s", script, url];
  const child = Bun.spawn([wrkOrExit(), ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), (options.seconds + 30) * 1000);
  const out = await new Response(child.stdout).text();
  await child.exited;
  clearTimeout(timer);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  if (!Number.isFinite(rps)) throw new Error(`wrk printed no rate: ${out}`);
  return { rps, non2xx, requests };
}

/** CPU time a process has used (all its threads, the collector's included), in µs, from /proc/PID/stat. */
export async function cpuMicros(pid: number): Promise<number> {
  const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name, in clock ticks (100/s)
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

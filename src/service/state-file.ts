// service.json in the state folder: what the running service is doing, for `pkipc service status`.
import { existsSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeAtomically } from "../lib/atomic-file.ts";

/** What a running service tells `status` about itself. No secret: the key stays in the key file. */
export interface ServiceState {
  pid: number;
  /** The program running (checked against the PID's, so a reused PID is not taken for the service). */
  exe: string;
  startedAt: string;
  server: string;
  serviceId?: string;
  keyFile: string;
  host: string;
  range: string;
  held: number;
  heldPorts: string;
  missing: { port: number; reason: string }[];
  allowOrigins: string[] | "any";
  instructions: string[];
  lastLink?: { at: string; origin: string; process: string; pid: number };
}

export const STATE_FILE = "service.json";
const MAX_STATE_BYTES = 1 << 20;

export const statePath = (stateDir: string) => join(stateDir, STATE_FILE);

/** Writes the state (mode 0600, atomically: `status` never reads half of it). */
export function writeServiceState(path: string, state: ServiceState): void {
  writeAtomically(path, `${JSON.stringify(state, null, 2)}\n`);
}

/** Removes the state file when it is this process's own (a second service must not remove the first one's). */
export function removeServiceState(path: string, pid: number): void {
  try {
    if ((JSON.parse(readFileSync(path, "utf8")) as ServiceState).pid === pid) rmSync(path, { force: true });
  } catch {
    // gone already, or not ours to judge
  }
}

/** Whether `pid` is alive and runs `exe` (where the OS says which program a PID runs: Linux's /proc). */
export function processRuns(pid: number, exe: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code !== "EPERM") return false;
  }
  if (process.platform !== "linux") return true;
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "") === exe;
  } catch {
    return false; // another user's process: a service writing into this user's state folder is this user's
  }
}

/** The state file, when there is one and it parses; `live` says whether its PID still runs the service. */
export function readServiceState(path: string): { state: ServiceState; live: boolean } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const text = readFileSync(path, "utf8");
    if (text.length > MAX_STATE_BYTES) return undefined;
    const state = JSON.parse(text) as ServiceState;
    if (!Number.isInteger(state.pid) || typeof state.exe !== "string") return undefined;
    return { state, live: processRuns(state.pid, state.exe) };
  } catch {
    return undefined;
  }
}

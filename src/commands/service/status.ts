// `pkipc service status`: whether the service runs, its server and whether it answers, its ports and last link.
import { defineCommand } from "citty";
import type { CommandEnv } from "../env.ts";
import { describeError } from "../../lib/errors.ts";
import { resolveOptions, toCittyArgs } from "../../lib/options.ts";
import { readEnrollment } from "../../service/key-file.ts";
import { defaultStateDir } from "../../service/state-dir.ts";
import { readServiceState, statePath } from "../../service/state-file.ts";
import { serverReach } from "../../service/status-facts.ts";
import { profileStateDir } from "../../service/profile.ts";
import { autostartFor, selfProgram } from "./autostart.ts";
import { DEFAULT_SERVER } from "../options.ts";
import { keyFilePath, serviceOptions } from "./options.ts";

const statusOptions = {
  profile: serviceOptions.profile,
  keyFile: serviceOptions.keyFile,
  stateDir: serviceOptions.stateDir,
  json: { description: "Print the facts as one JSON object", flag: true, parse: (raw: string) => raw === "true" },
} as const;

export default defineCommand({
  meta: {
    name: "status",
    description:
      "Whether the service runs (PID, since when), its server and whether it answers, ports, origins, last link; exit 0 running, 3 not running, 4 not installed",
  },
  args: toCittyArgs(statusOptions),
  async run({ args, rawArgs, data }) {
    const { env, print, self, setExitCode } = data as CommandEnv;
    const o = resolveOptions(statusOptions, args, rawArgs, env);
    const home = env.HOME ?? env.USERPROFILE ?? "~";
    const stateDir = o.stateDir
      ? o.stateDir.replace(/^~(?=[\\/]|$)/, home)
      : profileStateDir(defaultStateDir(env, process.platform, home), o.profile);
    const found = readServiceState(statePath(stateDir));
    const state = found?.live ? found.state : undefined;
    const backend = autostartFor(env, selfProgram(self).program, o.profile);
    const autostart = await backend.status();
    // Whether it runs comes from the service itself (its state file), not the autostart manager, which may not answer.
    const installation = autostart.installed
      ? `installed at ${backend.plan({ program: "", args: [] }).target}`
      : "not installed to start at login (pkipc service install)";
    // Enrollment: what the running service uses, else what its key file says; a key file named with
    // --key-file is read even while a service runs, and a running service with another key is pointed out.
    const keyFile = keyFilePath(o.keyFile, o.profile, home);
    let enrollment: { server?: string; serviceId?: string; problem?: string } = {};
    const keyFileNote =
      state && o.keyFile && state.keyFile !== keyFile
        ? `the running service uses ${state.keyFile}, not ${keyFile}`
        : undefined;
    if (state && !keyFileNote) enrollment = { server: state.server, serviceId: state.serviceId };
    else {
      try {
        const read = readEnrollment(keyFile);
        enrollment = { server: read.server ?? DEFAULT_SERVER, serviceId: read.credentials.serviceId };
      } catch (error) {
        enrollment = { problem: describeError(error) };
      }
    }
    const reach = enrollment.server ? await serverReach(enrollment.server) : undefined;
    // As systemctl status: 0 running, 3 not running, 4 no such service installed.
    const exitCode = state ? 0 : autostart.installed ? 3 : 4;
    setExitCode(exitCode);
    const facts = {
      running: Boolean(state),
      pid: state?.pid,
      since: state?.startedAt,
      installed: autostart.installed,
      autostart: installation,
      server: enrollment.server,
      serviceId: enrollment.serviceId,
      enrollmentProblem: enrollment.problem,
      keyFileNote,
      serverAnswers: reach?.answers,
      serverDetail: reach?.detail,
      ports: state
        ? { range: state.range, held: state.held, heldPorts: state.heldPorts, missing: state.missing }
        : undefined,
      allowOrigins: state?.allowOrigins,
      instructions: state?.instructions,
      lastLink: state?.lastLink,
      staleStateFile:
        found && !found.live
          ? `a state file of PID ${found.state.pid} (no longer running) was left in ${stateDir}`
          : undefined,
      exitCode,
    };
    if (o.json) {
      print(JSON.stringify(facts));
      return;
    }
    print(
      `pkipc service: ${state ? `running as PID ${state.pid} since ${state.startedAt}` : "not running"}; ${installation}`,
    );
    if (keyFileNote) print(`  note: ${keyFileNote}`);
    if (facts.staleStateFile) print(`  note: ${facts.staleStateFile} (it stopped without cleaning up)`);
    if (enrollment.problem) print(`  enrollment: ${enrollment.problem}`);
    else print(`  server: ${enrollment.server} (enrolled as ${enrollment.serviceId}); ${reach?.detail}`);
    if (state) {
      const missing = state.missing.length
        ? `; missing ${state.missing.length}: ${state.missing.map((m) => `${m.port}(${m.reason})`).join(",")}`
        : "";
      print(
        `  ports: ${state.held} of ${state.held + state.missing.length} held on ${state.host} (${state.heldPorts})${missing}`,
      );
      print(
        `  origins allowed: ${state.allowOrigins === "any" ? "any" : state.allowOrigins.join(", ")}; instructions: ${state.instructions.join(", ") || "none"}`,
      );
      print(
        `  last link: ${state.lastLink ? `${state.lastLink.at} from ${state.lastLink.origin} (${state.lastLink.process}, PID ${state.lastLink.pid})` : "none since start"}`,
      );
    }
  },
});

// Desktop consent: from the user's answer in the notification (dunst, private D-Bus, Xvfb) to the client's result, for deny and allow once.
import { markHooked, runCleanups } from "../test/cleanup.ts";
import { startDesktop } from "../test/desktop.ts";
import { serverProcess, serviceProcess, spawnPkipc, tempFolder } from "../test/helpers.ts";
import { summary } from "./stats.ts";

const ROUNDS = Number(process.argv[2] ?? 10);
markHooked(); // the test helpers' cleanups (processes by PID, temp folders) run in the finally below
try {
  const desktop = await startDesktop();
  const server = await serverProcess();
  await serviceProcess(server.url, ["--confirm", "desktop", "--consent-timeout", "20s"], {
    ...desktop.env,
    PKIPC_STATE_DIR: tempFolder(),
  });
  for (const answer of ["deny", "once"] as const) {
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const client = spawnPkipc(["client", "--server", server.url, "--json", "--timeout", "30s"]);
      await desktop.waitShown();
      const at = performance.now();
      await desktop.choose(answer);
      const result = JSON.parse(await new Response(client.stdout).text()) as { state: string };
      ms.push(performance.now() - at);
      if (result.state !== (answer === "deny" ? "declined" : "linked"))
        throw new Error(`round ${i}: ${answer} gave ${result.state}`);
      while ((await desktop.displayed()) > 0) await Bun.sleep(20);
    }
    console.log(
      `${answer.padEnd(4)} answer -> client result (ms, ${ROUNDS} rounds, includes dunstctl and its menu): ${summary(ms)}`,
    );
  }
} finally {
  await runCleanups();
}

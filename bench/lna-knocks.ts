// Do knocks land while Local Network Access is granted, denied or unanswered? Counts the TCP connections a listener accepts per knock.
// Run: node_modules/.bin/bun bench/lna-knocks.ts [knocks per cell]. Headless Chromium and Firefox, a page made public by address-space override.
// Each cell: a fresh browser, the page's permission set (or left to the browser), N knocks of one transport to fresh loopback listeners.
import { createServer, type Server } from "node:net";
import { type BrowserKind, launchBrowser, setLocalNetworkPermission } from "../test/browser/launch.ts";

const KNOCKS = Number(process.argv[2] ?? 5);
const TRANSPORTS = ["fetch", "https", "ws", "wss"] as const;
const SETTINGS = ["granted", "denied", "unset"] as const;

/** A loopback listener that counts what it accepts and holds each socket 300 ms, as a service attributing it would. */
async function listener(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on("error", () => {});
    setTimeout(() => socket.destroy(), 300);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port, accepted: () => accepted };
}

const page = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response("<!doctype html><title>public</title>", { headers: { "content-type": "text/html" } }),
});
const origin = `http://127.0.0.1:${page.port}`;
console.log(`knocks per cell: ${KNOCKS}; a cell reads "landed/knocks (connections accepted), state before -> after"`);
for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  for (const setting of SETTINGS) {
    const row: string[] = [];
    for (const transport of TRANSPORTS) {
      const launched = await launchBrowser(kind, { publicPorts: [page.port!] });
      try {
        if (setting !== "unset") await setLocalNetworkPermission(launched, origin, setting);
        const tab = await launched.browser.newPage();
        await tab.goto(`${origin}/`);
        const state = () =>
          tab.evaluate(async () => (await navigator.permissions.query({ name: "loopback-network" } as never)).state);
        const before = await state();
        let landed = 0;
        let connections = 0;
        for (let i = 0; i < KNOCKS; i++) {
          const target = await listener();
          await tab.evaluate(
            (transport, port) =>
              new Promise<void>((resolve) => {
                const done = () => resolve();
                setTimeout(done, 1500);
                if (transport === "fetch" || transport === "https") {
                  const scheme = transport === "fetch" ? "http" : "https";
                  fetch(`${scheme}://127.0.0.1:${port}/`, { mode: "no-cors", cache: "no-store" }).then(done, done);
                } else {
                  const socket = new WebSocket(
                    `${transport}://127.0.0.1:${port}/${Math.random().toString(16).slice(2)}`,
                  );
                  socket.onerror = socket.onclose = done;
                }
              }),
            transport,
            target.port,
          );
          await Bun.sleep(200);
          if (target.accepted() > 0) landed++;
          connections += target.accepted();
          target.server.close();
        }
        row.push(`${transport} ${landed}/${KNOCKS} (${connections}), ${before} -> ${await state()}`);
      } finally {
        await launched.close();
      }
    }
    console.log(`${kind} ${setting}: ${row.join("; ")}`);
  }
}
page.stop(true);

// What each knock style sends before any answer (does it carry the page's Origin?), per browser and Local Network Access state.
// Run: node_modules/.bin/bun bench/knock-bytes.ts. Headless Chromium and Firefox; a page on another loopback port, local or made public.
import { createServer, type Server } from "node:net";
import { type BrowserKind, launchBrowser, setLocalNetworkPermission } from "../test/browser/launch.ts";

const STYLES = ["cors-get", "nocors-get", "nocors-post", "img", "ws", "https", "wss"] as const;
const SETTINGS = (process.env.SETTINGS?.split(",") ?? ["local", "granted", "denied"]) as (
  | "local"
  | "granted"
  | "denied"
)[];

/** A loopback listener that records the first bytes of each connection and holds it 400 ms (as a service attributing it would). */
async function listener(): Promise<{ server: Server; port: number; seen: () => string }> {
  const chunks: string[] = [];
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on("data", (d) => chunks.push(d.toString("latin1")));
    socket.on("error", () => {});
    setTimeout(() => socket.destroy(), 400);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const seen = () => {
    const text = chunks.join("");
    if (accepted === 0) return "no connection";
    if (text.length === 0) return `${accepted} conn, 0 bytes`;
    if (text.charCodeAt(0) === 0x16) return `${accepted} conn, TLS hello`;
    const origin = /\r\norigin: *([^\r\n]*)/i.exec(text)?.[1];
    return `${accepted} conn, ${text.split(" ")[0]} ${origin ? `Origin ${origin}` : "no Origin"}`;
  };
  return { server, port: (server.address() as { port: number }).port, seen };
}

const page = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response("<!doctype html><title>p</title>", { headers: { "content-type": "text/html" } }),
});
const origin = `http://127.0.0.1:${page.port}`;
for (const kind of (process.env.KINDS?.split(",") ?? ["chromium", "firefox"]) as BrowserKind[]) {
  for (const setting of SETTINGS) {
    const launched = await launchBrowser(kind, setting === "local" ? {} : { publicPorts: [page.port!] });
    try {
      if (setting !== "local") await setLocalNetworkPermission(launched, origin, setting);
      const tab = await launched.browser.newPage();
      await tab.goto(`${origin}/`);
      const row: string[] = [];
      for (const style of STYLES) {
        const target = await listener();
        await tab.evaluate(
          (style, port) =>
            new Promise<void>((resolve) => {
              const done = () => resolve();
              setTimeout(done, 1500);
              const url = `http://127.0.0.1:${port}/`;
              if (style === "cors-get")
                fetch(url, { mode: "cors", cache: "no-store", credentials: "omit" }).then(done, done);
              else if (style === "nocors-get") fetch(url, { mode: "no-cors", cache: "no-store" }).then(done, done);
              else if (style === "nocors-post")
                fetch(url, { mode: "no-cors", method: "POST", body: "" }).then(done, done);
              else if (style === "https") fetch(`https://127.0.0.1:${port}/`, { mode: "no-cors" }).then(done, done);
              else if (style === "img") {
                const img = new Image();
                img.onload = img.onerror = done;
                img.src = url;
              } else {
                const socket = new WebSocket(`${style}://127.0.0.1:${port}/${Math.random().toString(16).slice(2)}`);
                socket.onerror = socket.onclose = done;
              }
            }),
          style,
          target.port,
        );
        await Bun.sleep(300);
        row.push(`${style}: ${target.seen()}`);
        target.server.close();
      }
      console.log(`${kind} ${setting}: ${row.join("; ")}`);
    } finally {
      await launched.close();
    }
  }
}
page.stop(true);

// The demo page's script: draws the port range, lights each knock as it goes out, then shows what the service found.
import type { ProcessInfo, SessionOffer, SessionStatus } from "../../protocol/schemas.ts";
import {
  browserTransports,
  defaultTransport,
  fetchConfig,
  LinkError,
  type LinkProgress,
  type LinkResult,
  link,
} from "../../client/browser/index.ts";

const $ = <E extends HTMLElement>(id: string) => document.getElementById(id) as E;
const params = new URLSearchParams(location.search);
const select = $<HTMLSelectElement>("transport");
const cells = new Map<number, HTMLElement>();

function drawGrid(range: { start: number; end: number }): void {
  const grid = $("grid");
  grid.replaceChildren();
  cells.clear();
  for (let port = range.start; port <= range.end; port++) {
    const cell = document.createElement("div");
    cell.className = "port";
    cell.textContent = String(port);
    cell.dataset.port = String(port);
    grid.append(cell);
    cells.set(port, cell);
  }
}

/** What the page may do on loopback, in words; the advice box is shown only when a link failed for it. */
const PERMISSION_TEXT: Record<string, string> = {
  granted: "allowed",
  denied: "blocked (knocking anyway: knocks land before the browser checks)",
  prompt: "not decided yet (the browser may ask)",
  unknown: "not readable in this browser",
};

function onProgress(event: LinkProgress): void {
  if (event.type === "permission") {
    const permission = $("permission");
    permission.textContent = `Local network access: ${PERMISSION_TEXT[event.state] ?? event.state}`;
    permission.dataset.state = event.state;
  } else if (event.type === "session") {
    for (const cell of cells.values()) cell.className = "port";
    for (const port of event.tuples.flat()) cells.get(port)?.classList.add("code");
    setStatus(`Knocking ${event.tuples.flat().length} ports…`);
  } else if (event.type === "knock") cells.get(event.port)?.classList.add("out");
  else if (event.type === "knocked") cells.get(event.port)?.classList.replace("out", "done");
  else if (event.type === "waiting") setStatus("Knocked; waiting for the service…");
}

function setStatus(text: string, state?: "linked" | "failed" | "running"): void {
  $("status").textContent = text;
  if (state) document.body.dataset.state = state;
}

function showDetails(rows: [string, string][]): void {
  const table = $<HTMLTableElement>("details");
  table.replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      for (const text of [k, v]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
      return tr;
    }),
  );
  table.hidden = rows.length === 0;
}

function describe(p: ProcessInfo): [string, string][] {
  const b = p.browser;
  return [
    ["browser", b ? `${b.name} ${b.version}` : "not recognised"],
    ["OS user", `${p.user} (uid ${p.uid})`],
    ["browser PID", b ? `${b.pid} (${b.exe})` : "-"],
    ["knocking PID", `${p.pid} ${p.name} (${p.exe})`],
  ];
}

/**
 * Where this page's SaaS backend is, when it has one (`<meta name="pkipc-backend">`, set by the demo
 * SaaS): the backend then creates the session with its API key and tells the page who linked. Served by
 * the pkipc server itself, the page creates its own session and sees only the progress.
 */
const backend = document.querySelector<HTMLMetaElement>('meta[name="pkipc-backend"]')?.content;
const server = new URL(
  document.querySelector<HTMLMetaElement>('meta[name="pkipc-server"]')?.content ?? ".",
  location.href,
);

async function backendCall<T>(method: string, path: string): Promise<T> {
  const response = await fetch(new URL(path, new URL(backend!, location.href)), {
    method,
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok)
    throw new Error(`the SaaS backend answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.json()) as T;
}

async function run(): Promise<void> {
  const transport = select.value as keyof typeof browserTransports;
  setStatus("Asking for a code…", "running");
  showDetails([]);
  $("advice").hidden = true;
  try {
    const session = backend ? await backendCall<SessionOffer>("POST", "session") : undefined;
    const result: LinkResult = await link({ server, transport, onProgress, ...(session ? { session } : {}) });
    // The page itself never learns who linked; its backend does, with its API key.
    const status = backend
      ? await backendCall<SessionStatus>("GET", `session/${encodeURIComponent(result.sessionId)}`)
      : result.status;
    const p = status.process;
    const b = p?.browser;
    const who = p
      ? `: ${b ? `${b.name} ${b.version}` : p.name}, user ${p.user}, PID ${b?.pid ?? p.pid}`
      : " (who linked is shown to the SaaS backend only)";
    setStatus(`Linked in ${Math.round(result.timeToLinkMs)} ms${who}`, "linked");
    showDetails([
      ...(p ? describe(p) : []),
      ...(status.origin ? [["origin", status.origin] as [string, string]] : []),
      ["transport", result.transport],
      ["local network access", result.permission],
      ["session", result.sessionId],
    ]);
    (window as any).pkipcResult = {
      ...result,
      ...(p ? { process: p } : {}),
      ...(status.origin ? { origin: status.origin } : {}),
    };
  } catch (error) {
    const message = error instanceof LinkError ? error.message : `unexpected failure: ${(error as Error).message}`;
    if (error instanceof LinkError && error.code === "LOCAL_NETWORK_BLOCKED") {
      // The browser refused this page the loopback: what the user can do matters more than the status line.
      setStatus("Not linked: your browser blocked this page from reaching apps on this computer.", "failed");
      const advice = $("advice");
      advice.textContent = message;
      advice.hidden = false;
    } else setStatus(`Not linked: ${message}`, "failed");
    (window as any).pkipcResult = { error: message, code: (error as LinkError).code };
  }
}

for (const name of Object.keys(browserTransports)) select.append(new Option(name, name));
select.value = params.get("transport") ?? defaultTransport();
$("module-url").textContent = new URL("pkipc.js", server).href;
$("again").addEventListener("click", () => void run());
select.addEventListener("change", () => void run());
try {
  drawGrid((await fetchConfig(server)).range);
  if (params.get("auto") !== "0") await run();
} catch (error) {
  setStatus(`Not linked: the server did not answer (${(error as Error).message})`, "failed");
}

// `--confirm ask`: the local user says yes or no on the terminal before a knock is reported.
import { createInterface } from "node:readline";
import { printable } from "../lib/printable.ts";
import type { ProcessInfo } from "../protocol/schemas.ts";
import type { ConfirmLink } from "./policy.ts";

/**
 * Asks one question at a time on `output`, naming the process and the web origin of the session its
 * knocks fit (names and paths escaped: a process cannot paint its own prompt), reading the answer from
 * `input`; no answer within
 * `timeoutMs` (default 20 s, inside a code's lifetime) counts as no.
 */
export function terminalConfirm(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  server: string,
  timeoutMs = 20_000,
): ConfirmLink {
  const lines = createInterface({ input, terminal: false });
  const waiting: Array<(line: string) => void> = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  let queue = Promise.resolve(false);
  const ask = (process: ProcessInfo, ports: number, origin: string) =>
    new Promise<boolean>((resolve) => {
      const browser = process.browser ? `, ${process.browser.name} ${process.browser.version}` : "";
      const site =
        origin === "none"
          ? "a session with no web origin (a non-browser client)"
          : `a session of the website ${origin}`;
      output.write(
        printable(
          `pkipc: ${process.name} (pid ${process.pid}, user ${process.user}, ${process.exe || "exe unknown"}${browser}) knocked ${ports} ports for ${site}, through ${server}. Link it? [y/N] `,
        ),
      );
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(answer), 1);
        output.write("\nno answer: declined\n");
        resolve(false);
      }, timeoutMs);
      const answer = (line: string) => {
        clearTimeout(timer);
        resolve(/^y(es)?$/i.test(line.trim()));
      };
      waiting.push(answer);
    });
  // The terminal asks at the link only, as before: instructions queued after it are not asked about.
  return async (process, ports, origin, asked) =>
    asked?.afterLink
      ? true
      : (queue = queue.then(
          () => ask(process, ports, origin),
          () => ask(process, ports, origin),
        ));
}

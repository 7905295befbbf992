// `--confirm ask`: the local user says yes or no on the terminal before a knock is reported.
import { createInterface } from "node:readline";
import type { ProcessInfo } from "../protocol/schemas.ts";
import type { ConfirmLink } from "./policy.ts";

/**
 * Asks one question at a time on `output`, reading the answer from `input`; no answer within
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
  const ask = (process: ProcessInfo, ports: number) =>
    new Promise<boolean>((resolve) => {
      output.write(`pkipc: ${process.name} (pid ${process.pid}, ${process.exe || "exe unknown"}) knocked ${ports} ports. Link it to a session of ${server}? [y/N] `);
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
  return (process, ports) => (queue = queue.then(() => ask(process, ports), () => ask(process, ports)));
}

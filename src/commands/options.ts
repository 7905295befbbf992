// Option specs more than one command takes, written once: the server's URL, the deadline, --json.
import { duration, httpUrl } from "../lib/options.ts";

/** The server every command goes to when neither a flag, a variable nor a key file names one. */
export const DEFAULT_SERVER = "http://127.0.0.1:7870";

/** --server of `pkipc client` and `pkipc admin` (`pkipc service` narrows it: no default, https off loopback). */
export const serverOption = {
  description: "The pkipc server's URL",
  env: "PKIPC_SERVER",
  default: DEFAULT_SERVER,
  parse: httpUrl,
} as const;

/** --timeout: the deadline of the whole exchange with the server. */
export const timeoutOption = (description: string, env?: string) =>
  ({ description, ...(env ? { env } : {}), default: "10s", parse: duration(100, 600_000) }) as const;

/** --json: print the result as JSON instead of lines for people. */
export const jsonOption = (description: string) => ({ description, flag: true, parse: () => true }) as const;

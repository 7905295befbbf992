// Reads the server's TLS certificate and key files named on the command line.
import { readFileSync } from "node:fs";
import { ConfigError } from "../lib/errors.ts";

/** Both files' PEM text, or undefined when neither is given; one without the other is a ConfigError. */
export function readTlsFiles(
  certPath: string | undefined,
  keyPath: string | undefined,
): { cert: string; key: string } | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) throw new ConfigError("--tls-cert and --tls-key go together: give both files or neither");
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const cert = read(certPath, "certificate");
  const key = read(keyPath, "key");
  if (!cert.includes("-----BEGIN")) throw new ConfigError(`${certPath} is not a PEM certificate`);
  if (!key.includes("-----BEGIN")) throw new ConfigError(`${keyPath} is not a PEM key`);
  return { cert, key };
}

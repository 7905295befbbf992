// `--users`: whose programs a service links, as names or numeric uids, resolved once at start-up.
import { readFileSync } from "node:fs";
import { ConfigError } from "../lib/errors.ts";

const MAX_USERS = 256;
const MAX_PASSWD_BYTES = 16 << 20;

/**
 * Parses "alice,1001" into uids, resolving names through `passwdPath` (default /etc/passwd).
 * @throws ConfigError for an unknown name or an empty list.
 */
export function parseUsers(raw: string, name: string, passwdPath = "/etc/passwd"): number[] {
  const entries = raw
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  if (entries.length === 0)
    throw new ConfigError(`${name} must name at least one user (names or uids, comma-separated)`);
  if (entries.length > MAX_USERS) throw new ConfigError(`${name} lists more than ${MAX_USERS} users`);
  let passwd: Map<string, number> | undefined;
  const byName = () => {
    if (!passwd) {
      passwd = new Map();
      let text = "";
      try {
        text = readFileSync(passwdPath, "utf8").slice(0, MAX_PASSWD_BYTES);
      } catch {
        // no passwd file: only numeric uids can be given
      }
      for (const line of text.split("\n")) {
        const [user, , uid] = line.split(":");
        if (user && uid && /^\d+$/.test(uid) && !passwd.has(user)) passwd.set(user, Number(uid));
      }
    }
    return passwd;
  };
  return [
    ...new Set(
      entries.map((entry) => {
        if (/^\d{1,10}$/.test(entry) && Number(entry) < 2 ** 32) return Number(entry);
        const uid = byName().get(entry);
        if (uid === undefined) throw new ConfigError(`${name}: there is no user "${entry}" on this machine`);
        return uid;
      }),
    ),
  ];
}

/**
 * The uids a service serves: those given, else its own (`ownUid`, from process.getuid). A root service must be told (it would link
 * every user's programs otherwise); undefined where the platform has no uids (Windows).
 * @throws ConfigError when running as root without a list.
 */
export function usersToServe(
  users: readonly number[] | undefined,
  ownUid: number | undefined,
): readonly number[] | undefined {
  if (users !== undefined) return users;
  if (ownUid === 0) {
    throw new ConfigError(
      "a service running as root links only the users it is told: name them with --users (names or uids, for example --users alice)",
    );
  }
  return ownUid === undefined ? undefined : [ownUid];
}

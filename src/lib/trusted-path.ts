// The one check before the service runs, reads or writes a local file: every folder from / down belongs to root or the service's user and no one else may change it (sshd's StrictModes, sudo's secure path).
import { lstatSync, mkdirSync, readlinkSync, type Stats } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { UnsafePathError } from "./errors.ts";

/** What the path must end at. */
export type PathKind = "file" | "folder";

export interface TrustedPathOptions {
  /** Create missing folders (mode 0700, one at a time, each checked like the rest). Only for kind "folder". Default false. */
  create?: boolean;
  /** The user besides root whose files are trusted. Default: the service's own user (its effective uid). */
  uid?: number;
}

/** More links than this on one path is a loop or a trick: Linux itself gives up at 40. */
const MAX_LINKS = 32;
const S_ISVTX = 0o1000;

const modeText = (info: Stats) => (info.mode & 0o7777).toString(8);

/**
 * Resolves `path` (relative to the working folder) one name at a time from `/` and returns its real path, refusing with an
 * UnsafePathError (one sentence that names the path) unless every folder on the way, the folders its
 * symbolic links lead through, and the file or folder at the end belong to root or `uid` and may be
 * written by neither their group nor others. A folder every user may write but with the sticky bit
 * (`/tmp`) is crossed only into a folder root or `uid` owns (the sticky bit stops others renaming or
 * deleting that folder); a file, a link or the end folder directly inside one is refused, since any
 * user could have put it there. Unlike sshd, which refuses `/tmp` on the way too, this allows
 * `/tmp/private-folder/program`, which no one else can change either.
 *
 * Windows has neither owners as uids nor mode bits (its ACLs decide): there the path is returned unchecked.
 */
export function trustedPath(path: string, kind: PathKind, options: TrustedPathOptions = {}): string {
  path = resolve(path); // a relative path is the working folder's, whose folders are checked like any other
  if (process.platform === "win32" || typeof process.geteuid !== "function") {
    if (options.create && kind === "folder") mkdirSync(path, { recursive: true });
    return path;
  }
  const uid = options.uid ?? process.geteuid();
  const trusted = (owner: number) => owner === 0 || owner === uid;
  const ownerText = uid === 0 ? "root" : `root or uid ${uid}`;

  // the folders entered so far (for ".."), each with whether others may add entries to it (sticky)
  const stack: Array<{ path: string; open: boolean }> = [];
  const enter = (at: string, info: Stats, last: boolean) => {
    if (!trusted(info.uid))
      throw new UnsafePathError(
        `the folder ${at} belongs to uid ${info.uid}, not ${ownerText}: other users could replace what is inside it`,
      );
    const open = (info.mode & 0o022) !== 0;
    if (open && !(info.mode & S_ISVTX))
      throw new UnsafePathError(
        `the folder ${at} may be changed by other users (mode ${modeText(info)}); run chmod go-w ${at}`,
      );
    if (open && last)
      throw new UnsafePathError(
        `the folder ${at} lets every user add files (mode ${modeText(info)}); use a folder only ${ownerText} may write`,
      );
    stack.push({ path: at, open });
  };
  enter("/", lstatSync("/"), false);

  /** lstat that turns every error but a missing entry into one sentence naming the path. */
  const look = (at: string) => {
    try {
      return lstatSync(at, { throwIfNoEntry: false });
    } catch (error) {
      throw new UnsafePathError(`${at} cannot be examined (${(error as NodeJS.ErrnoException).code ?? "error"})`, {
        cause: error,
      });
    }
  };

  const queue = path.split("/").filter(Boolean);
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (name === ".") continue;
    const here = stack.at(-1)!;
    if (name === "..") {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const next = here.path === "/" ? `/${name}` : `${here.path}/${name}`;
    const last = queue.length === 0;
    let info = look(next);
    if (!info && options.create && kind === "folder") {
      if (here.open)
        throw new UnsafePathError(
          `${next} does not exist, and is not made inside ${here.path}, which every user may write`,
        );
      try {
        mkdirSync(next, { mode: 0o700 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST")
          throw new UnsafePathError(
            `the folder ${next} could not be made (${(error as NodeJS.ErrnoException).code ?? "error"})`,
            { cause: error },
          );
      }
      info = look(next);
    }
    if (!info) throw new UnsafePathError(`${next} does not exist`);
    if (here.open && !(info.isDirectory() && trusted(info.uid))) {
      throw new UnsafePathError(
        `${next} sits in ${here.path}, which every user may write, and is not a folder owned by ${ownerText}`,
      );
    }
    if (info.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new UnsafePathError(`${path} goes through more than ${MAX_LINKS} symbolic links`);
      const target = readlinkSync(next);
      // the link's own folder was checked: only a trusted user could have made it; now check where it leads
      if (isAbsolute(target)) stack.length = 1;
      queue.unshift(...target.split("/").filter(Boolean));
      continue;
    }
    if (info.isDirectory()) {
      enter(next, info, last && kind === "folder");
      continue;
    }
    if (!last || kind !== "file") throw new UnsafePathError(`${next} is not a folder`);
    if (!info.isFile()) throw new UnsafePathError(`${next} is not a regular file`);
    if (!trusted(info.uid)) throw new UnsafePathError(`${next} belongs to uid ${info.uid}, not ${ownerText}`);
    if (info.mode & 0o022)
      throw new UnsafePathError(
        `${next} may be changed by other users (mode ${modeText(info)}); run chmod go-w ${next}`,
      );
    return next;
  }
  const end = stack.at(-1)!;
  if (kind === "file") throw new UnsafePathError(`${end.path} is not a file`);
  if (end.open)
    throw new UnsafePathError(
      `the folder ${end.path} lets every user add files; use a folder only ${ownerText} may write`,
    );
  return end.path;
}

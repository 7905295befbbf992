// What `pkipc/service` is on Node and Deno (package.json "exports"): one clear sentence at import, not a failure deep in its imports (bun:ffi, Bun.listen).
throw new Error(
  "pkipc/service runs the local pkipc service, which needs Bun (https://bun.sh): run this script with bun, or run the pkipc binary (pkipc service); a Node or Deno backend wants pkipc/backend",
);

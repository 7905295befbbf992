// What `pkipc/client` is on Node and Deno (package.json "exports"): one clear sentence at import, not a failure deep in its imports (Bun.connect).
throw new Error(
  "pkipc/client knocks like a page with Bun's sockets, which needs Bun (https://bun.sh): run this script with bun, or run the pkipc binary (pkipc client); a Node or Deno backend wants pkipc/backend",
);

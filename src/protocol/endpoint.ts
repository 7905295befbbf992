// Where the API lives: a server may be mounted under a path (https://saas.example/pkipc/), so API paths join onto its base URL.

/** The base URL with a trailing slash and no query, so relative API paths resolve under it. */
export function apiRoot(base: string | URL): URL {
  const root = new URL(base);
  if (!root.pathname.endsWith("/")) root.pathname += "/";
  root.search = "";
  root.hash = "";
  return root;
}

/** `path` ("/v1/sessions", with or without a query) under `root`, keeping the root's own path. */
export function apiUrl(root: URL, path: string): URL {
  return new URL(path.replace(/^\/+/, ""), root);
}

/**
 * The path a signature covers: the URL's path below the root, with its query ("/v1/reports?x=1"). A
 * reverse proxy that strips the mount path hands the server exactly this.
 */
export function apiPath(root: URL, url: URL): string {
  return url.pathname.slice(root.pathname.length - 1) + url.search;
}

/** The request header in which pkipc's own clients name their version (operators see it per service). */
export const VERSION_HEADER = "pkipc-version";

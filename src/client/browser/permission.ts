// Local Network Access: reads the page's permission to reach loopback, and says what a user can do when it is denied.

/** The page's Local Network Access permission for loopback; "unknown" where the browser does not expose it. */
export type LocalNetworkPermission = "granted" | "denied" | "prompt" | "unknown";

/**
 * The permission names to ask, in order. Measured (test/browser/permission.test.ts): Chromium 156 and
 * Firefox ESR 153 both know "loopback-network" (Chrome 145+ split loopback out of the older
 * "local-network-access", which Chromium still knows and Firefox does not); a name the browser does
 * not know makes query() throw a TypeError, so the next one is tried.
 */
export const PERMISSION_NAMES = ["loopback-network", "local-network-access"] as const;

/** The small part of navigator.permissions this module uses, so tests and other hosts can pass their own. */
export interface PermissionsLike {
  query(descriptor: { name: string }): Promise<{ state: string }>;
}

/**
 * The page's Local Network Access state for loopback, or "unknown" (no Permissions API, no known
 * name, or no answer within `timeoutMs`). Never throws and never asks the user: query() shows no prompt.
 */
export async function queryLocalNetworkPermission(
  permissions: PermissionsLike | undefined = (globalThis.navigator as { permissions?: PermissionsLike } | undefined)
    ?.permissions,
  timeoutMs = 1000,
): Promise<LocalNetworkPermission> {
  if (!permissions) return "unknown";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"unknown">((resolve) => {
    timer = setTimeout(() => resolve("unknown"), timeoutMs);
  });
  const ask = async (): Promise<LocalNetworkPermission> => {
    for (const name of PERMISSION_NAMES) {
      try {
        const { state } = await permissions.query({ name });
        return state === "granted" || state === "denied" || state === "prompt" ? state : "unknown";
      } catch {
        // TypeError: this browser does not know the name; try the next one
      }
    }
    return "unknown";
  };
  try {
    return await Promise.race([ask(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One sentence for a user whose browser blocked this page from reaching the pkipc service on their
 * computer: where to allow it for this site, per browser, and the policy their IT can set instead.
 */
export function blockedAdvice(origin: string, userAgent = globalThis.navigator?.userAgent ?? ""): string {
  const site = origin || "this site";
  if (/Firefox\//.test(userAgent)) {
    return (
      `Firefox blocked ${site} from reaching the pkipc service on this computer (Local Network Access was denied): ` +
      `click the permissions icon at the left of the address bar, clear the blocked "Device apps and services" permission, reload and choose Allow ` +
      `(or Settings > Privacy & Security > Permissions > Device apps and services); if Firefox is managed, ask your IT to allow ${site} with the LocalNetworkAccess policy (SkipDomains).`
    );
  }
  const edge = /Edg\//.test(userAgent);
  return (
    `Your browser blocked ${site} from reaching the pkipc service on this computer (Local Network Access was denied): ` +
    `click the site-information icon at the left of the address bar, open Site settings, set "Apps on device" (before version 145: "Local network access") to Allow, and reload; ` +
    `if ${edge ? "Edge" : "the browser"} is managed, ask your IT to allow ${site} with the LoopbackNetworkAllowedForUrls or LocalNetworkAccessAllowedForUrls policy.`
  );
}

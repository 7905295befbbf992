// What each version of pkipc's own clients can read. Clients of 0.3 decode a session status strictly (no property
// they do not know, DECLINED as the only reason), so a server answers a client that names an older version in its
// pkipc-version header in the shape that version reads; a client that names none (curl, a page, an integrator's
// own code) gets the whole status.
import type { FailureReason, SessionStatus } from "./schemas.ts";

/** A version's major and minor numbers, or undefined for a header that names no version. */
export function versionOf(header: string | null | undefined): { major: number; minor: number } | undefined {
  const match = /^(\d{1,6})\.(\d{1,6})\.\d{1,6}(?:[-+][0-9A-Za-z.-]{0,32})?$/.exec(header ?? "");
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

/** The first version whose clients read `detail`, `confirming` and every failure reason in a status. */
const FULL_STATUS_SINCE = { major: 0, minor: 4 };

/** The only reason a 0.3 client's schema allows. */
const REASONS_OF_0_3: readonly FailureReason[] = ["DECLINED"];

const before = (v: { major: number; minor: number }, than: { major: number; minor: number }) =>
  v.major < than.major || (v.major === than.major && v.minor < than.minor);

/**
 * The status as a client naming `versionHeader` decodes it. Before 0.4: no `detail` or `confirming`, and a
 * reason only when it is one 0.3 knew (a pending session's newer reasons are left out; such a client waits on
 * as 0.3 did). Anything else, including no header at all, gets the status unchanged.
 */
export function statusFor(status: SessionStatus, versionHeader: string | null | undefined): SessionStatus {
  const version = versionOf(versionHeader);
  if (!version || !before(version, FULL_STATUS_SINCE)) return status;
  const { detail: _detail, confirming: _confirming, reason, ...rest } = status;
  return reason !== undefined && REASONS_OF_0_3.includes(reason) ? { ...rest, reason } : rest;
}

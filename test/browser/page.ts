// Runs the browser module's link() inside a page: the in-page script, and its puppeteer form (shared by the browser tests and bench/browser.ts).
import type { Page } from "puppeteer-core";

/** What link() did in a page, as plain data. */
export interface PageLink {
  ok: boolean;
  code?: string;
  message?: string;
  sessionId?: string;
  transport?: string;
  timeToLinkMs?: number;
  /** LinkResult.permission: the Local Network Access state the module read when it linked. */
  permission?: string;
  /** The states of every "permission" progress event, in order. */
  permissionEvents?: string[];
  process?: {
    pid: number;
    user: string;
    uid: number;
    name: string;
    browser?: { name: string; version: string; pid: number; exe: string };
  };
}

/** Runs in the page: imports the module from `url` and runs link() with `opts` (sent as source text, so self-contained). */
export async function linkScript(url: string, opts: { transport?: string; timeoutMs?: number }): Promise<PageLink> {
  const m = await import(url);
  const permissionEvents: string[] = [];
  const onProgress = (e: { type: string; state?: string }) =>
    void (e.type === "permission" && permissionEvents.push(e.state!));
  try {
    const r = await m.link({ ...opts, onProgress });
    return {
      ok: true,
      sessionId: r.sessionId,
      transport: r.transport,
      timeToLinkMs: r.timeToLinkMs,
      process: r.process,
      permission: r.permission,
      permissionEvents,
    };
  } catch (e) {
    return {
      ok: false,
      code: (e as { code?: string }).code,
      message: String((e as Error).message ?? e),
      permissionEvents,
    };
  }
}

/** Imports the module from `moduleUrl` in the page and runs link() with `options`. */
export function linkInPage(
  page: Page,
  moduleUrl: string,
  options: { transport?: string; timeoutMs?: number } = {},
): Promise<PageLink> {
  return page.evaluate(linkScript, moduleUrl, options);
}

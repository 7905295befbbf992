// The Local Network Access reader's fallbacks and bounds, and the advice per browser (the real browsers are in test/browser/permission.test.ts).
import { describe, expect, test } from "bun:test";
import {
  blockedAdvice,
  type PermissionsLike,
  queryLocalNetworkPermission,
} from "../../../src/client/browser/permission.ts";

/** A Permissions object that knows only `known` (others throw TypeError, as browsers do), answering `state`. */
function permissions(known: Record<string, string>, asked: string[] = []): PermissionsLike {
  return {
    async query({ name }) {
      asked.push(name);
      if (!(name in known)) throw new TypeError(`'${name}' is not a valid value for enumeration PermissionName.`);
      return { state: known[name]! };
    },
  };
}

describe("queryLocalNetworkPermission", () => {
  test("asks loopback-network first and returns its state", async () => {
    const asked: string[] = [];
    expect(
      await queryLocalNetworkPermission(
        permissions({ "loopback-network": "denied", "local-network-access": "granted" }, asked),
      ),
    ).toBe("denied");
    expect(asked).toEqual(["loopback-network"]);
  });

  test("falls back to local-network-access (Chrome 142-144) when loopback-network is unknown", async () => {
    const asked: string[] = [];
    expect(await queryLocalNetworkPermission(permissions({ "local-network-access": "granted" }, asked))).toBe(
      "granted",
    );
    expect(asked).toEqual(["loopback-network", "local-network-access"]);
  });

  test("unknown when the browser knows neither name, has no Permissions API, or answers a state it should not", async () => {
    expect(await queryLocalNetworkPermission(permissions({}))).toBe("unknown");
    expect(await queryLocalNetworkPermission(undefined)).toBe("unknown");
    expect(await queryLocalNetworkPermission(permissions({ "loopback-network": "maybe" }))).toBe("unknown");
  });

  test("a query that never answers gives unknown at the deadline instead of holding up the link", async () => {
    const never: PermissionsLike = { query: () => new Promise(() => {}) };
    expect(await queryLocalNetworkPermission(never, 50)).toBe("unknown");
  });
});

describe("blockedAdvice", () => {
  const origin = "https://saas.example";
  test("Chrome: the site setting and both enterprise policies, naming the site", () => {
    const advice = blockedAdvice(
      origin,
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    );
    for (const part of [
      origin,
      "Site settings",
      "Apps on device",
      "LoopbackNetworkAllowedForUrls",
      "LocalNetworkAccessAllowedForUrls",
    ])
      expect(advice).toContain(part);
  });

  test("Edge is named as Edge", () => {
    expect(
      blockedAdvice(
        origin,
        "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36 Edg/146.0.0.0",
      ),
    ).toContain("if Edge is managed");
  });

  test("Firefox: its permission's name and the LocalNetworkAccess policy", () => {
    const advice = blockedAdvice(origin, "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0");
    for (const part of [origin, "Device apps and services", "LocalNetworkAccess policy", "SkipDomains"])
      expect(advice).toContain(part);
  });
});

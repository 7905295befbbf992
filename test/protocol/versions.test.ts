// The status a client of each version is answered: 0.3 clients refuse properties they do not know.
import { expect, test } from "bun:test";
import type { SessionStatus } from "../../src/protocol/schemas.ts";
import { statusFor, versionOf } from "../../src/protocol/versions.ts";

const pending: SessionStatus = {
  id: "abcdefgh",
  state: "pending",
  version: 2,
  expiresAt: "2026-12-07T15:00:00.000Z",
  reason: "ADDRESS_MISMATCH",
  detail: "made for 127.0.0.1, reported from ::1",
  confirming: true,
  instructions: [],
};

test("clients before 0.4 get no detail, no confirming, and only the reasons 0.3 knew", () => {
  const { reason: _r, detail: _d, confirming: _c, ...bare } = pending;
  for (const version of ["0.3.0", "0.3.12", "0.2.0", "0.1.0-rc.1"]) expect(statusFor(pending, version)).toEqual(bare);
  const declined: SessionStatus = { ...bare, state: "declined", reason: "DECLINED" };
  expect(statusFor(declined, "0.3.0")).toEqual(declined);
});

test("0.4 and later, and requests that name no version or an unreadable one, get the whole status", () => {
  for (const version of ["0.4.0", "0.4.0-dev", "0.10.1", "1.0.0", null, undefined, "", "banana", "0.3", "99999999.1.1"])
    expect(statusFor(pending, version)).toBe(pending);
  expect(versionOf("0.3.1+build.7")).toEqual({ major: 0, minor: 3 });
});

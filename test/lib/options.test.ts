// The option parsers every command shares: what a user may type for a duration, and the sentence when it is wrong.
import { expect, test } from "bun:test";
import { duration } from "../../src/lib/options.ts";

test('a duration may be given in ms, s, m or h; the docs\' "1 s to 1 h" can be typed as 1h', () => {
  const linkTtl = duration(1000, 3_600_000);
  expect(linkTtl("1h", "--link-ttl")).toBe(3_600_000);
  expect(linkTtl("90s", "--link-ttl")).toBe(90_000);
  expect(linkTtl("5m", "--link-ttl")).toBe(300_000);
  expect(linkTtl("1500", "--link-ttl")).toBe(1500);
  expect(() => linkTtl("2h", "--link-ttl")).toThrow(
    "--link-ttl must be between 1000 ms and 3600000 ms, not 7200000 ms",
  );
  expect(() => linkTtl("1d", "--link-ttl")).toThrow(
    '--link-ttl must be a duration such as 500ms, 30s, 2m or 1h, not "1d"',
  );
});

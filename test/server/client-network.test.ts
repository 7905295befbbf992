// Which client an address counts as: an IPv4 address alone, an IPv6 address by its /64.
import { expect, test } from "bun:test";
import { clientNetwork } from "../../src/server/client-network.ts";

test("an IPv4 address is a client of its own, also written as IPv4-mapped IPv6", () => {
  expect(clientNetwork("192.0.2.7")).toBe("192.0.2.7");
  expect(clientNetwork("::ffff:192.0.2.7")).toBe("192.0.2.7");
  expect(clientNetwork("192.0.2.8")).not.toBe(clientNetwork("192.0.2.7"));
});

test("every address of one IPv6 /64 is one client, however it is written; the next /64 is another", () => {
  const one = clientNetwork("2001:db8:7:1::1");
  for (const address of [
    "2001:db8:7:1:ffff:ffff:ffff:ffff",
    "2001:0DB8:0007:0001:0:0:0:2",
    "2001:db8:7:1:1:2:3.4.5.6",
    "2001:db8:7:1::%eth0",
  ]) {
    expect(clientNetwork(address)).toBe(one);
  }
  expect(clientNetwork("2001:db8:7:2::1")).not.toBe(one);
  expect(clientNetwork("::1")).toBe("0:0:0:0::/64");
});

test("what is not an address is kept as it is", () => {
  expect(clientNetwork("unknown")).toBe("unknown");
});

// A soak test of the Redis session store, kept out of the fast lane (npm run test:fast ignores *.soak.test.ts): it
// waits out the keys' retention, about 10 s.
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/lib/log.ts";
import { redisStore } from "../../../src/server/state/redis/sessions.ts";
import { onCleanup } from "../../helpers.ts";
import { linkedRecord as linked, sessionRecord as session, testConnection } from "./backends.ts";

describe("session store: Redis keys", () => {
  test("every key expires with what it holds: nothing is left once sessions, linked or not, are past their retention", async () => {
    const connection = await testConnection();
    const store = await redisStore(connection, silentLogger, { retainMs: 200, indexSlackMs: 300 });
    onCleanup(() => store.close());
    const soon = Date.now() + 200;
    const pending = session(
      [
        [20081, 20082],
        [20083, 20084],
      ],
      { expiresAt: soon },
    );
    const linkedOne = session(
      [
        [20085, 20086],
        [20087, 20088],
      ],
      { expiresAt: soon },
    );
    await store.insert(pending);
    await store.insert(linkedOne);
    await store.replace(linked(linkedOne, "link000000008"), 0);
    // Two records, the pending one's code (the linked one's left with its link), the live index, the link, the changes.
    const written = ((await connection.command("KEYS", ["*"])) as string[])
      .map((k) => k.slice(connection.prefix.length))
      .sort();
    expect(written).toEqual(
      [
        "changes",
        "code:20081,20082,20083,20084",
        "link:link000000008",
        "live",
        `s:${linkedOne.id}`,
        `s:${pending.id}`,
      ].sort(),
    );
    // The list of recent changes lives 10 s after the last change; everything else by now.
    const end = Date.now() + 15_000;
    let keys: unknown[] = [];
    while (Date.now() < end) {
      keys = (await connection.command("KEYS", ["*"])) as unknown[];
      if (keys.length === 0) break;
      await Bun.sleep(250);
    }
    expect(keys).toEqual([]);
  });
});

// Forged services: unsigned, wrongly keyed, unknown, revoked, replayed and stale requests are refused with 401.
import { describe, expect, test } from "bun:test";
import { chmodSync, statSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/lib/log.ts";
import { signRequest } from "../../src/protocol/signing.ts";
import { startServer } from "../../src/server/index.ts";
import { readKeyFile, writeKeyFile } from "../../src/service/key-file.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { backendApi, enrollWith, onCleanup, serverConfig, tempFolder, testServer } from "../helpers.ts";
import { FAKE_PROCESS, requestFrom, signedPost } from "./tools.ts";

/** A report of `ports` knocked by a page of `page` (the Origin its knocks carried, as the service states it). */
const report = (ports: number[], page?: string) => ({
  process: FAKE_PROCESS,
  claim: { strategy: "server-match", observed: ports, failed: [] },
  ...(page ? { origin: new URL(page).origin } : {}),
});
const codeOf = (answer: { body: string }) => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

describe("forged reports", () => {
  test("a report with no signature, a wrong key, or an unknown service id is refused with 401 and a reason", async () => {
    const server = await testServer();
    const honest = await enrollWith(server.url);
    const offer = await backendApi(server.url).createSession();
    const body = JSON.stringify(report(offer.tuples.flat(), server.url));

    const unsigned = await requestFrom("127.0.0.1", server.url, "POST", "/v1/reports", {
      headers: { "content-type": "application/json" },
      body,
    });
    expect(unsigned.status).toBe(401);
    expect(codeOf(unsigned)).toBe("UNSIGNED");

    const wrongKey = await signedPost("127.0.0.1", server.url, "/v1/reports", body, {
      serviceId: honest.serviceId,
      key: "B".repeat(43),
    });
    expect(wrongKey.status).toBe(401);
    expect(codeOf(wrongKey)).toBe("BAD_SIGNATURE");

    const unknown = await signedPost("127.0.0.1", server.url, "/v1/reports", body, {
      serviceId: "nobody-at-all",
      key: honest.key,
    });
    expect(unknown.status).toBe(401);
    expect(codeOf(unknown)).toBe("UNKNOWN_SERVICE");

    // A signature taken from one body does not cover another.
    const headers = signRequest(honest, {
      method: "POST",
      path: "/v1/reports",
      body: JSON.stringify(report([1, 2, 3])),
    });
    const swapped = await requestFrom("127.0.0.1", server.url, "POST", "/v1/reports", {
      headers: { ...headers, "content-type": "application/json" },
      body,
    });
    expect(swapped.status).toBe(401);
    expect(codeOf(swapped)).toBe("BAD_SIGNATURE");

    // None of that linked the session, and the honest key still does.
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
    const good = await signedPost("127.0.0.1", server.url, "/v1/reports", body, honest);
    expect(good.status).toBe(200);
    expect(JSON.parse(good.body).linked).toBe(true);
  });

  test("pulls and acks of a link need the linking service's signature", async () => {
    const server = await testServer();
    const honest = await enrollWith(server.url);
    const other = await enrollWith(server.url, "another service");
    const offer = await backendApi(server.url).createSession();
    const linked = JSON.parse(
      (await signedPost("127.0.0.1", server.url, "/v1/reports", report(offer.tuples.flat(), server.url), honest)).body,
    );
    expect(linked.linked).toBe(true);
    const path = `/v1/links/${linked.linkId}/instructions`;
    expect((await requestFrom("127.0.0.1", server.url, "GET", path)).status).toBe(401);
    const asOther = await requestFrom("127.0.0.1", server.url, "GET", path, {
      headers: signRequest(other, { method: "GET", path, body: "" }),
    });
    expect(asOther.status).toBe(404);
    const acks = await signedPost(
      "127.0.0.1",
      server.url,
      `/v1/links/${linked.linkId}/acks`,
      { acks: [{ id: "x", ok: true, result: "" }] },
      other,
    );
    expect(acks.status).toBe(404);
    const asHonest = await requestFrom("127.0.0.1", server.url, "GET", path, {
      headers: signRequest(honest, { method: "GET", path, body: "" }),
    });
    expect(asHonest.status).toBe(200);
  });
});

describe("replay and stale timestamps", () => {
  test("a captured signed report sent again is refused, even before it links anything", async () => {
    const server = await testServer();
    const honest = await enrollWith(server.url);
    const body = JSON.stringify(report([server.config.range.start, server.config.range.start + 1]));
    const headers = {
      ...signRequest(honest, { method: "POST", path: "/v1/reports", body }),
      "content-type": "application/json",
    };
    const first = await requestFrom("127.0.0.1", server.url, "POST", "/v1/reports", { headers, body });
    expect(first.status).toBe(200);
    let replays = 0;
    for (let i = 0; i < 50; i++) {
      const again = await requestFrom(`127.0.0.${2 + (i % 3)}`, server.url, "POST", "/v1/reports", { headers, body });
      expect(again.status).toBe(401);
      expect(codeOf(again)).toBe("REPLAYED");
      replays++;
    }
    expect(replays).toBe(50);
  });

  test("a report whose timestamp is outside the window is refused, in the past and in the future", async () => {
    const server = await testServer({ security: { signatureWindowMs: 30_000 } });
    const honest = await enrollWith(server.url);
    const offer = await backendApi(server.url).createSession();
    for (const skew of [-31_000, -600_000, 31_000, 86_400_000]) {
      const answer = await signedPost(
        "127.0.0.1",
        server.url,
        "/v1/reports",
        report(offer.tuples.flat(), server.url),
        honest,
        Date.now() + skew,
      );
      expect(answer.status).toBe(401);
      expect(codeOf(answer)).toBe("STALE");
    }
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
  });
});

describe("enrollment", () => {
  test("a token works once; a revoked service is refused; the admin endpoints need the secret", async () => {
    const secret = "s3cret-admin-0123456789";
    const server = await testServer({ security: { adminSecret: secret } });
    const admin = { authorization: `Bearer ${secret}` };
    const tokenAnswer = await fetch(`${server.url}/v1/admin/tokens`, { method: "POST", headers: admin });
    expect(tokenAnswer.status).toBe(201);
    const { token } = (await tokenAnswer.json()) as { token: string };
    const credentials = await backendApi(server.url).enroll(token, "laptop");
    await expect(backendApi(server.url).enroll(token, "laptop again")).rejects.toMatchObject({
      status: 401,
      code: "BAD_TOKEN",
    });
    await expect(backendApi(server.url).enroll("A".repeat(43), "guess")).rejects.toMatchObject({
      status: 401,
      code: "BAD_TOKEN",
    });

    for (const authorization of ["", "Bearer wrong-secret-0123456789", `Bearer ${secret}x`, secret]) {
      const answer = await fetch(`${server.url}/v1/admin/tokens`, { method: "POST", headers: { authorization } });
      expect(answer.status).toBe(401);
    }
    const list = (await (await fetch(`${server.url}/v1/admin/services`, { headers: admin })).json()) as {
      services: { id: string }[];
    };
    expect(list.services.map((s) => s.id)).toEqual([credentials.serviceId]);
    expect(JSON.stringify(list)).not.toContain(credentials.key);

    const offer = await backendApi(server.url).createSession();
    const revoke = await fetch(`${server.url}/v1/admin/services/${credentials.serviceId}`, {
      method: "DELETE",
      headers: admin,
    });
    expect(revoke.status).toBe(200);
    const after = await signedPost(
      "127.0.0.1",
      server.url,
      "/v1/reports",
      report(offer.tuples.flat(), server.url),
      credentials,
    );
    expect(after.status).toBe(401);
    expect(codeOf(after)).toBe("UNKNOWN_SERVICE");
  });

  test("without an admin secret the admin endpoints do not exist", async () => {
    const server = await testServer();
    expect(
      (await fetch(`${server.url}/v1/admin/tokens`, { method: "POST", headers: { authorization: "Bearer " } })).status,
    ).toBe(404);
  });

  test("enrolled services survive a restart in a private file; a file others can read is refused", async () => {
    const folder = tempFolder();
    const file = join(folder, "services.json");
    const config = serverConfig({ security: { servicesFile: file } });
    const first = await startServer(config, createLogger({ write: () => {} }));
    const { token } = await first.registry.issueToken(60_000);
    const credentials = await apiClient(first.url).enroll(token, "kept");
    const { key: apiKey } = await first.registry.issueApiKey("kept backend", first.url);
    await first.stop();
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const second = await startServer(config, createLogger({ write: () => {} }));
    onCleanup(() => second.stop());
    // The service's key and the backend's API key both survive the restart.
    const offer = await apiClient(second.url, { apiKey }).createSession();
    const answer = await signedPost(
      "127.0.0.1",
      second.url,
      "/v1/reports",
      report(offer.tuples.flat(), first.url),
      credentials,
    );
    expect(JSON.parse(answer.body).linked).toBe(true);

    chmodSync(file, 0o644);
    await expect(startServer(config, createLogger({ write: () => {} }))).rejects.toMatchObject({ code: "CONFIG" });
  });

  test("the service's key file is written 0600 and refused when others can read it", () => {
    const file = join(tempFolder(), "key.json");
    writeKeyFile(file, { serviceId: "abcdefghijkl", key: "k".repeat(43) }, "http://127.0.0.1:1");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readKeyFile(file).serviceId).toBe("abcdefghijkl");
    for (const mode of [0o640, 0o604, 0o666]) {
      chmodSync(file, mode);
      expect(() => readKeyFile(file)).toThrow(/chmod 600/);
    }
  });

  test("tokens, keys and the admin secret never reach the logs", async () => {
    const lines: string[] = [];
    const secret = "admin-secret-never-logged";
    const server = await startServer(
      serverConfig({ security: { adminSecret: secret } }),
      createLogger({ level: "debug", write: (l) => lines.push(l) }),
    );
    onCleanup(() => server.stop());
    const { token } = (await (
      await fetch(`${server.url}/v1/admin/tokens`, { method: "POST", headers: { authorization: `Bearer ${secret}` } })
    ).json()) as {
      token: string;
    };
    const credentials = await apiClient(server.url).enroll(token, "quiet");
    const { key: apiKey } = await server.registry.issueApiKey("quiet backend", server.url);
    const offer = await apiClient(server.url, { apiKey }).createSession();
    await signedPost("127.0.0.1", server.url, "/v1/reports", report(offer.tuples.flat(), server.url), credentials);
    await signedPost("127.0.0.1", server.url, "/v1/reports", report(offer.tuples.flat(), server.url), {
      ...credentials,
      key: "C".repeat(43),
    });
    const all = lines.join("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const secretText of [secret, token, credentials.key, apiKey]) expect(all).not.toContain(secretText);
  });
});

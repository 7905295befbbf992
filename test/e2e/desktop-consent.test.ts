// Consent on a Linux desktop, end to end: the real binary asks through a real notification server (dunst on a private D-Bus under Xvfb); the answer is dunst's.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { type ClientJson, startBareDesktop, startDesktop } from "../desktop.ts";
import { backendApi, runPkipc, serverProcess, serviceProcess, spawnPkipc, tempFolder } from "../helpers.ts";

describe("--confirm desktop", () => {
  test("the user's answer in the notification decides: deny reaches client and backend as DECLINED at once, allow links, no answer denies, always is remembered and revocable", async () => {
    const desktop = await startDesktop();
    const server = await serverProcess();
    const origin = new URL(server.url).origin;
    const state = tempFolder();
    const keyDir = tempFolder();
    const service = await serviceProcess(
      server.url,
      ["--confirm", "desktop", "--consent-timeout", "6s", "--allow-instructions", "log,key", "--key-dir", keyDir],
      { ...desktop.env, PKIPC_STATE_DIR: state },
    );
    const backend = backendApi(server.url);
    const client = (instruction = "key:name=saas-token,secret=s3cret-value") =>
      spawnPkipc(["client", "--server", server.url, "--json", "--timeout", "30s", "--instruction", instruction]);
    const result = async (child: ReturnType<typeof client>) =>
      JSON.parse(await new Response(child.stdout).text()) as ClientJson;

    // 1. Deny. The question names the site, the knocking program and what it asks, never the secret.
    const denied = client();
    await desktop.waitShown();
    const shown = desktop.shown();
    expect(shown).toContain(origin);
    expect(shown).toContain("pkipc"); // the knocking program (the CLI client stands in for a browser)
    expect(shown).toContain("key");
    expect(shown).toContain("saas-token");
    expect(shown).not.toContain("s3cret-value");
    const answeredAt = performance.now();
    await desktop.choose("deny");
    const deniedResult = await result(denied);
    const deniedAfterMs = performance.now() - answeredAt;
    console.log(`deny answered -> client saw DECLINED: ${deniedAfterMs.toFixed(0)} ms`);
    expect(deniedResult.linked).toBe(false);
    expect(deniedResult.state).toBe("declined");
    expect(deniedResult.reason).toMatch(/^DECLINED/);
    // a second or so on a quiet machine; the bound is generous for a shared one, and far below the client's 30 s
    expect(deniedAfterMs).toBeLessThan(5000);
    const deniedStatus = await backend.status(deniedResult.sessionId);
    expect(deniedStatus.state).toBe("declined");
    expect(deniedStatus.reason).toBe("DECLINED");
    await service.log.waitFor(/answered deny/);

    // 2. Allow once: it links and the key is stored; the site is not remembered.
    const allowed = client();
    await desktop.waitShown();
    await desktop.choose("once");
    const allowedResult = await result(allowed);
    expect(allowedResult).toMatchObject({ linked: true, state: "linked" });
    expect((await backend.status(allowedResult.sessionId)).instructions[0]).toMatchObject({
      name: "key",
      state: "done",
    });
    expect(
      readdirSync(keyDir, { recursive: true })
        .map(String)
        .some((f) => f.endsWith("saas-token")),
    ).toBe(true);
    expect(
      JSON.parse((await runPkipc(["service", "origins", "--json"], 20_000, { PKIPC_STATE_DIR: state })).stdout),
    ).toEqual([]);

    // 3. No answer: the question times out (6 s here) and counts as deny, told to client and backend alike.
    const started = performance.now();
    const unanswered = client("log:message=nobody-there");
    await desktop.waitShown();
    const unansweredResult = await result(unanswered);
    expect(unansweredResult).toMatchObject({ linked: false, state: "declined" });
    expect(performance.now() - started).toBeLessThan(25_000); // the consent timeout, not the client's 30 s
    expect((await backend.status(unansweredResult.sessionId)).reason).toBe("DECLINED");

    // 4. Always: it links, the origin is remembered, and the next link of that site goes without a question.
    await Bun.sleep(1500); // let the timed-out notification close
    const always = client("log:message=always");
    await desktop.waitShown();
    await desktop.choose("always");
    expect((await result(always)).linked).toBe(true);
    const listed = await runPkipc(["service", "origins", "--json"], 20_000, { PKIPC_STATE_DIR: state });
    expect(JSON.parse(listed.stdout)).toEqual([origin]);
    const before = desktop.shown().split("\n--\n").length;
    const silent = await result(client("log:message=silent"));
    expect(silent.linked).toBe(true);
    expect(desktop.shown().split("\n--\n").length).toBe(before); // no notification for a remembered site

    // 5. Revoked: the site is asked about again.
    const revoked = await runPkipc(["service", "origins", "--revoke", origin], 20_000, { PKIPC_STATE_DIR: state });
    expect(revoked.code).toBe(0);
    expect(
      JSON.parse((await runPkipc(["service", "origins", "--json"], 20_000, { PKIPC_STATE_DIR: state })).stdout),
    ).toEqual([]);
    const askedAgain = client("log:message=again");
    await desktop.waitShown();
    await desktop.choose("deny");
    expect((await result(askedAgain)).state).toBe("declined");
  }, 180_000);

  test("with no notification server it falls back to zenity: the question is a real window, and Enter there denies", async () => {
    const desktop = await startBareDesktop();
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--confirm", "desktop", "--consent-timeout", "20s"], {
      ...desktop.env,
      PKIPC_STATE_DIR: tempFolder(),
    });
    const client = spawnPkipc(["client", "--server", server.url, "--json", "--timeout", "30s"]);
    const window = (
      await desktop.xdotool("search", "--sync", "--name", `pkipc: link ${new URL(server.url).origin}`)
    ).split("\n")[0]!;
    await service.log.waitFor(/consent dialog notification unavailable/);
    await Bun.sleep(300); // let GTK map the window before it takes focus
    await desktop.xdotool("windowfocus", "--sync", window);
    await desktop.xdotool("key", "Return"); // Deny is the default button
    const result = JSON.parse(await new Response(client.stdout).text()) as ClientJson;
    expect(result).toMatchObject({ linked: false, state: "declined" });
    expect((await backendApi(server.url).status(result.sessionId)).reason).toBe("DECLINED");
    await service.log.waitFor(/answered deny .*dialog=zenity/);
  });
});

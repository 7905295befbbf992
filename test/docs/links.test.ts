// Every relative link in the README, docs/, CONTRIBUTING.md and CHANGELOG.md leads somewhere: the file exists and,
// for a link with #anchor into a Markdown file, a heading of that file has that anchor (as GitHub makes them).
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { ROOT } from "../helpers.ts";

/** The Markdown files readers are sent to. */
function documents(): string[] {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => join(ROOT, "docs", name));
  return [join(ROOT, "README.md"), join(ROOT, "CONTRIBUTING.md"), join(ROOT, "CHANGELOG.md"), ...docs];
}

/** The text outside fenced code blocks and inline code, where a link is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lower case, code marks and punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every anchor a Markdown file's headings make, repeated ones numbered as GitHub does (-1, -2, ...). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const match of markdown.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = slug(match[1] as string);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** The targets of a document's inline links and images, without the external ones. */
function relativeLinks(markdown: string): string[] {
  const targets = [...prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(
    (m) => m[1] as string,
  );
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** Why a link from `file` does not resolve, or undefined when it does. */
function broken(file: string, target: string): string | undefined {
  const [path = "", anchor] = target.split("#", 2) as [string, string | undefined];
  const resolved = path === "" ? file : join(dirname(file), decodeURIComponent(path));
  if (!existsSync(resolved)) return `${target}: no file ${relative(ROOT, resolved)}`;
  if (anchor === undefined || !resolved.endsWith(".md") || statSync(resolved).isDirectory()) return undefined;
  if (!anchors(readFileSync(resolved, "utf8")).has(anchor))
    return `${target}: no heading #${anchor} in ${relative(ROOT, resolved)}`;
  return undefined;
}

describe("links in the documentation", () => {
  test("the checker finds bad files and bad anchors", () => {
    const readme = join(ROOT, "README.md");
    expect(broken(readme, "docs/no-such-file.md")).toContain("no file");
    expect(broken(readme, "docs/operating.md#no-such-heading")).toContain("no heading");
    expect(broken(readme, "docs/operating.md#limits")).toBeUndefined();
    expect(slug("Trying it with `pkipc client`")).toBe("trying-it-with-pkipc-client");
    expect(slug("For IT administrators: let your SaaS reach pkipc")).toBe(
      "for-it-administrators-let-your-saas-reach-pkipc",
    );
    expect(slug("Sentinel (a primary with replicas, failover)")).toBe("sentinel-a-primary-with-replicas-failover");
    expect([...anchors("# A\n## A\n```\n# not a heading\n```\n")]).toEqual(["a", "a-1"]);
    expect(relativeLinks("[x](a.md) `[y](b.md)` [z](https://example.com) ![i](docs/i.png)")).toEqual([
      "a.md",
      "docs/i.png",
    ]);
  });

  for (const file of documents()) {
    test(`${relative(ROOT, file)}: every relative link and anchor resolves`, () => {
      const links = relativeLinks(readFileSync(file, "utf8"));
      const bad = links.map((target) => broken(file, target)).filter((why) => why !== undefined);
      expect(bad).toEqual([]);
    });
  }

  test("the README links every document in docs/", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const linked = new Set(relativeLinks(readme).map((t) => t.split("#")[0]));
    const docs = readdirSync(join(ROOT, "docs")).filter((name) => name.endsWith(".md"));
    expect(docs.filter((name) => !linked.has(`docs/${name}`))).toEqual([]);
  });
});

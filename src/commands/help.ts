// Help text that fits the terminal: citty's usage re-laid out at a width, wrapped at word boundaries.

/** The width help is wrapped to when the output is no terminal (a pipe, a file, a pager): 80 columns. */
export const HELP_WIDTH = 80;
/** The widest help a wide terminal gets: longer lines are hard to read. */
export const HELP_MAX_WIDTH = 120;

/** Variables every command reads, named in every help (options name their own). */
export const COMMON_ENVIRONMENT: readonly (readonly [string, string])[] = [
  ["PKIPC_LOG_LEVEL", "debug, info (default), warn or error"],
  ["PKIPC_LOG_FORMAT", "text (default; a time on every line) or json"],
  ["NO_COLOR", "set: no colours in help"],
];

/** The width to wrap to: 80 unless a terminal says it is wider (up to HELP_MAX_WIDTH). */
export function helpWidth(columns: number | undefined): number {
  return columns && columns > HELP_WIDTH ? Math.min(columns, HELP_MAX_WIDTH) : HELP_WIDTH;
}

const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (text: string) => text.replace(ANSI, "").length;

/**
 * `text` in lines of at most `width` columns, the first starting after `first` columns already used and the
 * rest indented by `indent`. Breaks between words; a word longer than a whole line is split.
 */
export function wrap(text: string, width: number, indent: number, first = indent): string[] {
  const rows: string[] = [];
  let row = "";
  let room = width - first;
  const push = () => {
    rows.push(row);
    row = "";
    room = width - indent;
  };
  for (let word of text.split(/ +/).filter(Boolean)) {
    if (row && visible(row) + 1 + visible(word) > room) push();
    while (visible(word) > room) {
      // Only a word wider than the whole line is cut (a long URL): nothing else fits there either.
      if (row) push();
      rows.push(word.slice(0, room));
      word = word.slice(room);
      room = width - indent;
    }
    row = row ? `${row} ${word}` : word;
  }
  if (row || rows.length === 0) rows.push(row);
  return rows;
}

/**
 * citty's usage at `width`: each option or command on its own line, its description wrapped under it;
 * other lines wrapped at word boundaries. `plain` drops colours. An ENVIRONMENT section closes it.
 */
export function formatHelp(usage: string, width: number, plain: boolean): string {
  const out: string[] = [];
  for (const raw of (plain ? usage.replace(ANSI, "") : usage).split("\n")) {
    const line = raw.replace(/[ \t]+$/, "");
    // An option or command row: a name column, four blanks, a description (citty right-aligns names).
    const row = /^\s+(\S(?:.*?\S)?) {4,}(\S.*)$/.exec(line);
    if (row) {
      const name = row[1]!;
      const oneLine = `  ${name}  ${row[2]}`;
      if (visible(oneLine) <= width) {
        out.push(oneLine);
        continue;
      }
      out.push(`  ${name}`);
      out.push(...wrap(row[2]!, width, 6).map((r) => `      ${r}`));
      continue;
    }
    const indent = /^\s*/.exec(line)![0].length;
    const rows = wrap(line.trim(), width, indent + 2, indent);
    out.push(...rows.map((r, i) => " ".repeat(i === 0 ? indent : indent + 2) + r));
  }
  while (out.length && out[out.length - 1] === "") out.pop();
  out.push("", "ENVIRONMENT", "");
  for (const [name, what] of COMMON_ENVIRONMENT) {
    out.push(`  ${name}`, ...wrap(what, width, 6).map((r) => `      ${r}`));
  }
  out.push(
    ...wrap(
      "Each option above names the variable that sets it (env NAME); a flag wins over its variable.",
      width,
      2,
      2,
    ).map((r) => `  ${r}`),
  );
  return out.join("\n");
}

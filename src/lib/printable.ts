// Text from other programs (process names, paths, origins) made safe to print on a terminal: control and bidi characters shown, not obeyed.

/** C0 controls, DEL, C1 controls, and the bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Replaces each control or bidi-control character with a visible escape (`\x1b`, `\u202e`), so a
 * process named with terminal escapes cannot repaint or reorder what the user reads.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

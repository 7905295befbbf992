// The Windows consent dialog as an in-memory DLGTEMPLATE (winuser.h): the text and three buttons, built here and checked on any OS.
import { type ConsentAnswer, type ConsentText, LABELS } from "./types.ts";

/** Control ids. Deny is IDCANCEL, so Escape, the close box and Alt+F4 all deny. */
export const BUTTON_IDS = { deny: 2, once: 101, always: 102 } as const;

/** The answer a WM_COMMAND control id stands for; any other id is not an answer. */
export function answerFor(id: number): ConsentAnswer | undefined {
  if (id === BUTTON_IDS.once) return "once";
  if (id === BUTTON_IDS.always) return "always";
  if (id === BUTTON_IDS.deny) return "deny";
  return undefined;
}

/** Most characters of the title and the body put in the template (the static text clips far sooner). */
export const MAX_TITLE = 256;
export const MAX_BODY = 2048;

const WS_POPUP = 0x80000000;
const WS_CHILD = 0x40000000;
const WS_VISIBLE = 0x10000000;
const WS_CAPTION = 0x00c00000;
const WS_SYSMENU = 0x00080000;
const WS_GROUP = 0x00020000;
const WS_TABSTOP = 0x00010000;
const WS_EX_TOPMOST = 0x8;
const DS_MODALFRAME = 0x80;
const DS_SETFONT = 0x40;
const DS_SETFOREGROUND = 0x200;
const DS_CENTER = 0x800;
const BS_DEFPUSHBUTTON = 0x1;
/** The static text shows "&" as itself: a site's name cannot underline a letter and hide the one after it. */
const SS_NOPREFIX = 0x80;
/** Wrapped as an edit control would: at word boundaries, long words broken. */
const SS_EDITCONTROL = 0x2000;
const BUTTON_CLASS = 0x0080;
const STATIC_CLASS = 0x0082;

interface Item {
  style: number;
  x: number;
  y: number;
  cx: number;
  cy: number;
  id: number;
  atom: number;
  text: string;
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}\u2026`);

/**
 * The dialog's template, in dialog units. Deny comes first among the buttons: it is the first tab stop,
 * so it has the focus and Enter denies (a keystroke meant for another window must not allow anything).
 * The text has been made printable (text.ts), so no NUL can end a string early.
 */
export function dialogTemplate(text: ConsentText): Uint8Array {
  const items: Item[] = [
    {
      style: WS_CHILD | WS_VISIBLE | SS_NOPREFIX | SS_EDITCONTROL,
      x: 7,
      y: 7,
      cx: 306,
      cy: 92,
      id: 0xffff,
      atom: STATIC_CLASS,
      text: clip(text.body, MAX_BODY),
    },
    {
      style: WS_CHILD | WS_VISIBLE | WS_TABSTOP | WS_GROUP | BS_DEFPUSHBUTTON,
      x: 241,
      y: 106,
      cx: 72,
      cy: 16,
      id: BUTTON_IDS.deny,
      atom: BUTTON_CLASS,
      text: LABELS.deny,
    },
    {
      style: WS_CHILD | WS_VISIBLE | WS_TABSTOP,
      x: 7,
      y: 106,
      cx: 76,
      cy: 16,
      id: BUTTON_IDS.once,
      atom: BUTTON_CLASS,
      text: LABELS.once,
    },
    {
      style: WS_CHILD | WS_VISIBLE | WS_TABSTOP,
      x: 89,
      y: 106,
      cx: 110,
      cy: 16,
      id: BUTTON_IDS.always,
      atom: BUTTON_CLASS,
      text: LABELS.always,
    },
  ];
  const out = new Writer();
  out.u32(WS_POPUP | WS_VISIBLE | WS_CAPTION | WS_SYSMENU | DS_MODALFRAME | DS_SETFONT | DS_SETFOREGROUND | DS_CENTER);
  out.u32(WS_EX_TOPMOST);
  out.u16(items.length);
  for (const n of [0, 0, 320, 129]) out.u16(n); // x, y, cx, cy
  out.u16(0); // no menu
  out.u16(0); // the dialog class
  out.wide(clip(text.title, MAX_TITLE));
  out.u16(8); // point size, then the typeface
  out.wide("MS Shell Dlg");
  for (const item of items) {
    out.align4();
    out.u32(item.style);
    out.u32(0);
    for (const n of [item.x, item.y, item.cx, item.cy, item.id]) out.u16(n);
    out.u16(0xffff);
    out.u16(item.atom);
    out.wide(item.text);
    out.u16(0); // no creation data
  }
  return out.bytes();
}

/** Little-endian words and NUL-ended UTF-16 strings, as the template wants them. */
class Writer {
  private parts: number[] = [];
  u16(n: number) {
    this.parts.push(n & 0xff, (n >>> 8) & 0xff);
  }
  u32(n: number) {
    this.u16(n & 0xffff);
    this.u16(n >>> 16);
  }
  wide(text: string) {
    for (let i = 0; i < text.length; i++) this.u16(text.charCodeAt(i));
    this.u16(0);
  }
  align4() {
    while (this.parts.length % 4) this.parts.push(0);
  }
  bytes() {
    return Uint8Array.from(this.parts);
  }
}

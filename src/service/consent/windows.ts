// Windows: a native dialog through bun:ffi (user32), modeless, its messages pumped from a timer: the service keeps running while it asks.
import { FFIType, JSCallback, dlopen, ptr } from "bun:ffi";
import { DialogUnavailableError } from "../../lib/errors.ts";
import type { ConsentAnswer, ConsentDialog, ConsentText } from "./types.ts";
import { answerFor, dialogTemplate } from "./windows-template.ts";

const { ptr: P, u32, i32, u64, i64 } = FFIType;

const WM_INITDIALOG = 0x0110;
const WM_COMMAND = 0x0111;
const WM_CLOSE = 0x0010;
const PM_REMOVE = 0x1;
/** sizeof(MSG) on x64 is 48; room to spare. */
const MSG_BYTES = 64;
/** How often the dialog's messages are pumped, in ms: often enough that Windows never calls it "not responding". */
const PUMP_MS = 25;
/** Most messages handled in one pump, so a flood of input cannot hold the service's thread. */
const MAX_MESSAGES_PER_PUMP = 256;

function load() {
  const user32 = dlopen("user32.dll", {
    CreateDialogIndirectParamW: { args: [u64, P, u64, P, i64], returns: u64 },
    DestroyWindow: { args: [u64], returns: i32 },
    IsWindow: { args: [u64], returns: i32 },
    PeekMessageW: { args: [P, u64, u32, u32, u32], returns: i32 },
    IsDialogMessageW: { args: [u64, P], returns: i32 },
    TranslateMessage: { args: [P], returns: i32 },
    DispatchMessageW: { args: [P], returns: i64 },
  });
  const kernel32 = dlopen("kernel32.dll", {
    GetModuleHandleW: { args: [P], returns: u64 },
    GetLastError: { args: [], returns: u32 },
  });
  return { ...user32.symbols, ...kernel32.symbols };
}

let symbols: ReturnType<typeof load> | undefined;
/** Loaded on first use: choosing this dialog elsewhere (tests on Linux) loads nothing. */
function win() {
  try {
    return (symbols ??= load());
  } catch (error) {
    throw new DialogUnavailableError(`user32.dll could not be loaded: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Why modeless and not MessageBoxTimeoutW or a TaskDialog: a modal box blocks the calling thread until it
 * closes, and the service has one JavaScript thread (no knock, report or timer would run for up to the
 * consent timeout); a message box's buttons cannot say "Always allow this site"; TaskDialogIndirect needs
 * comctl32 version 6, which a program without a manifest does not get. Here the dialog lives on this
 * thread and a timer pumps its messages, so the service goes on; the deadline destroys it (deny).
 */
export const windowsDialog: ConsentDialog = {
  name: "win32",
  ask(text: ConsentText, timeoutMs: number): Promise<ConsentAnswer> {
    const w = win();
    const template = dialogTemplate(text);
    return new Promise((resolve, reject) => {
      let dialog = 0n;
      let answer: ConsentAnswer = "deny";
      let pump: ReturnType<typeof setInterval> | undefined;
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const procedure = new JSCallback(
        (hwnd: bigint | number, message: number, wParam: bigint | number) => {
          if (message === WM_INITDIALOG) return 1; // focus goes to the first tab stop: Deny
          if (message === WM_COMMAND) {
            const chosen = answerFor(Number(BigInt(wParam) & 0xffffn));
            if (!chosen) return 0;
            answer = chosen;
            w.DestroyWindow(BigInt(hwnd));
            return 1;
          }
          if (message === WM_CLOSE) {
            w.DestroyWindow(BigInt(hwnd));
            return 1;
          }
          return 0;
        },
        { args: [u64, u32, u64, i64], returns: i64 },
      );
      const finish = () => {
        clearInterval(pump);
        clearTimeout(deadline);
        if (dialog && w.IsWindow(dialog)) w.DestroyWindow(dialog);
        procedure.close();
        resolve(answer);
      };
      dialog = BigInt(
        w.CreateDialogIndirectParamW(BigInt(w.GetModuleHandleW(null)), ptr(template), 0n, procedure.ptr, 0n),
      );
      if (!dialog) {
        const code = w.GetLastError();
        procedure.close();
        reject(
          new DialogUnavailableError(
            `Windows could not show the consent dialog (CreateDialogIndirectParamW failed, error ${code}): is this a desktop session?`,
          ),
        );
        return;
      }
      const msg = new Uint8Array(MSG_BYTES);
      const msgPtr = ptr(msg);
      pump = setInterval(() => {
        for (let i = 0; i < MAX_MESSAGES_PER_PUMP && w.PeekMessageW(msgPtr, 0n, 0, 0, PM_REMOVE); i++) {
          // Tab, Enter and Escape work as in any dialog; everything else goes to its window.
          if (!w.IsDialogMessageW(dialog, msgPtr)) {
            w.TranslateMessage(msgPtr);
            w.DispatchMessageW(msgPtr);
          }
        }
        if (!w.IsWindow(dialog)) finish();
      }, PUMP_MS);
      deadline = setTimeout(finish, timeoutMs); // no answer in time: the dialog goes, the answer stays deny
    });
  },
};

// Windows: a native dialog with three buttons, drawn by Windows Forms from PowerShell (no extra program).
import { DialogUnavailableError } from "../../lib/errors.ts";
import { runDialog } from "./run.ts";
import { type ConsentAnswer, type ConsentDialog, type ConsentText, LABELS } from "./types.ts";

/** A PowerShell single-quoted string: a quote is doubled, nothing else is special inside one. */
const psString = (text: string) => `'${text.replace(/['\u2018\u2019\u201a\u201b]/g, "''")}'`;

/** The script: a topmost form; each button's name is printed; the timer closes it after the timeout (deny). */
export function windowsScript(text: ConsentText, timeoutMs: number): string {
  const button = (name: string, label: string, x: number) =>
    `$b=New-Object Windows.Forms.Button;$b.Text=${psString(label)};$b.Width=150;$b.Left=${x};$b.Top=130;` +
    `$b.Add_Click({$script:answer=${psString(name)};$f.Close()});$f.Controls.Add($b);`;
  return [
    "Add-Type -AssemblyName System.Windows.Forms;",
    "$script:answer='deny';",
    `$f=New-Object Windows.Forms.Form;$f.Text=${psString(text.title)};$f.Width=520;$f.Height=210;$f.TopMost=$true;$f.StartPosition='CenterScreen';`,
    `$l=New-Object Windows.Forms.Label;$l.Text=${psString(text.body)};$l.Left=10;$l.Top=10;$l.Width=490;$l.Height=110;$l.UseMnemonic=$false;$f.Controls.Add($l);`,
    button("once", LABELS.once, 10),
    button("always", LABELS.always, 170),
    button("deny", LABELS.deny, 330),
    `$t=New-Object Windows.Forms.Timer;$t.Interval=${Math.max(1000, timeoutMs)};$t.Add_Tick({$f.Close()});$t.Start();`,
    "[void]$f.ShowDialog();Write-Output $script:answer",
  ].join("");
}

/** powershell.exe's command: the script as -EncodedCommand (UTF-16LE, base64), so no text needs shell quoting. */
export function windowsCommand(text: ConsentText, timeoutMs: number): string[] {
  const encoded = Buffer.from(windowsScript(text, timeoutMs), "utf16le").toString("base64");
  return ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-WindowStyle", "Hidden", "-EncodedCommand", encoded];
}

/** The last line printed names the button; anything else (a crash, the timer) is deny. */
export function windowsAnswer(exitCode: number | null, stdout: string): ConsentAnswer {
  const last = stdout.trim().split(/\r?\n/).pop()?.trim();
  return exitCode === 0 && (last === "once" || last === "always") ? last : "deny";
}

export const windowsDialog: ConsentDialog = {
  name: "powershell",
  async ask(text, timeoutMs) {
    const run = await runDialog(windowsCommand(text, timeoutMs), timeoutMs + 10_000, "powershell.exe ships with Windows");
    if (run.exitCode !== 0 && run.exitCode !== null) throw new DialogUnavailableError(`powershell could not ask: ${run.stderr.trim().slice(0, 200)}`);
    return windowsAnswer(run.exitCode, run.stdout);
  },
};

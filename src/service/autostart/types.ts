// The autostart seam: install, remove and inspect the per-user entry that starts `pkipc service` with the user's session.

/** Runs a system tool (systemctl, launchctl, reg.exe) with a deadline; never throws for a failed or missing tool. */
export type ToolRunner = (argv: readonly string[]) => Promise<ToolResult>;

export interface ToolResult {
  /** Exit code; 127 when the tool is not installed, 124 when it ran past its deadline. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and as whom the entry is installed: everything comes from the command layer, nothing from process.env. */
export interface AutostartContext {
  /** The user's home folder. */
  home: string;
  /** $XDG_CONFIG_HOME or ~/.config (Linux). */
  configHome: string;
  /** The user's numeric id (launchd's gui/UID domain). */
  uid: number;
  run: ToolRunner;
  /** The profile (see profile.ts): its entry has a name of its own, so two products' services coexist. */
  profile?: string;
}

/** What the entry starts: the binary by absolute path and its arguments (`service` and the service's options). */
export interface AutostartEntry {
  program: string;
  args: readonly string[];
}

/** What install writes: a file with its text, or a registry value; and the commands it runs after. */
export interface AutostartPlan {
  /** The file written (Linux, macOS), or the registry key and value (Windows). */
  target: string;
  content: string;
  /** The commands install runs once the entry is written, as a user would type them. */
  commands: string[][];
}

export interface AutostartStatus {
  installed: boolean;
  /** true/false, or undefined when the session's service manager cannot be asked. */
  running: boolean | undefined;
  /** One sentence for the user. */
  detail: string;
}

/** One backend per service manager. */
export interface Autostart {
  readonly name: string;
  plan(entry: AutostartEntry): AutostartPlan;
  /** Writes the entry (same text twice: no change) and asks the service manager to start it; returns what it did, one line each. */
  install(entry: AutostartEntry): Promise<string[]>;
  /** Removes exactly what install wrote, stopping the service first; returns what it did. */
  uninstall(): Promise<string[]>;
  status(): Promise<AutostartStatus>;
}

// The error catalogue: every error class pkipc throws, each with its stable code and HTTP status, in one file (as Elysia's error.ts).
// One class per code (the browser module's LinkError and ServerCallError excepted: they live in the page's module). Handlers narrow on `code`.

/** Base class: a stable machine code, an HTTP status, and one human sentence. */
export class PkipcError extends Error {
  readonly code: string = "PKIPC_ERROR";
  readonly status: number = 500;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // a bundler that splits chunks renames classes it sees twice (ConfigError2 in dist/library): the name users see drops that
    this.name = new.target.name.replace(/\d+$/, "");
  }
}

/** A value given by a user (flag, environment variable, request field) is not acceptable. */
export class InvalidInputError extends PkipcError {
  override readonly code = "INVALID_INPUT";
  override readonly status = 400;
}

/** A configuration the program refuses to run with. */
export class ConfigError extends PkipcError {
  override readonly code = "CONFIG";
  override readonly status = 400;
}

/** A local file or folder others could change (or a link through such a place): refused before it is run, read or written. */
export class UnsafePathError extends PkipcError {
  override readonly code = "UNSAFE_PATH";
  override readonly status = 403;
}

/** An XML or JSON document that does not decode to the expected payload. */
export class DecodeError extends PkipcError {
  override readonly code = "DECODE";
  override readonly status = 400;
}

/** The caller is known but may not do this (an origin that is not allowed, a session of another API key). */
export class ForbiddenError extends PkipcError {
  override readonly code: string = "FORBIDDEN";
  override readonly status = 403;
  constructor(message: string, code?: string) {
    super(message);
    if (code) this.code = code;
  }
}

/** A request body in a media type the route does not read (only application/json, and application/xml where said). */
export class UnsupportedMediaTypeError extends PkipcError {
  override readonly code = "UNSUPPORTED_MEDIA_TYPE";
  override readonly status = 415;
}

/** Something looked up by id does not exist (or no longer does). */
export class NotFoundError extends PkipcError {
  override readonly code = "NOT_FOUND";
  override readonly status = 404;
}

/** A linked session whose link has ended: it takes no more instructions, and its service stops asking. */
export class SessionEndedError extends PkipcError {
  override readonly code = "SESSION_ENDED";
  override readonly status = 410;
}

/** A bounded resource is full (live sessions, queued instructions). */
export class CapacityError extends PkipcError {
  override readonly code = "CAPACITY";
  override readonly status = 503;
}

/** A network operation failed; the message names the address. */
export class NetworkError extends PkipcError {
  override readonly code = "NETWORK";
  override readonly status = 502;
}

/** The shared store (Redis) cannot be reached or did not answer in time: 503, the request may be retried. */
/** A service's start ended by its stop signal while it waited for its server. */
export class ServiceStoppedError extends PkipcError {
  override readonly code = "SERVICE_STOPPED";
}

export class StoreUnavailableError extends PkipcError {
  override readonly code = "STORE_UNAVAILABLE";
  override readonly status = 503;
}

/** The bind-failure strategy cannot describe what the service saw within its bound. */
export class TooManyCompletionsError extends PkipcError {
  override readonly code = "TOO_MANY_COMPLETIONS";
  override readonly status = 400;
}

/** A response body grew past the bound its reader set: reading stopped there and the connection was dropped. */
export class ResponseTooLargeError extends PkipcError {
  override readonly code = "RESPONSE_TOO_LARGE";
  override readonly status = 502;
}

/** This desktop cannot show a consent dialog (no notification server with actions, no dialog program). */
export class DialogUnavailableError extends PkipcError {
  override readonly code = "DIALOG_UNAVAILABLE";
}

/** The server answered with an error body: its code and status, as it sent them (the HTTP API's codes). */
export class ApiError extends PkipcError {
  override readonly code: string;
  override readonly status: number;
  constructor(
    code: string,
    status: number,
    message: string,
    /** From a 429's Retry-After header, in seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Why a request was not accepted as coming from an enrolled service; each reason has its own code. */
export type AuthFailure =
  | "UNSIGNED"
  | "UNKNOWN_SERVICE"
  | "BAD_SIGNATURE"
  | "STALE"
  | "REPLAYED"
  | "BAD_TOKEN"
  | "BAD_ADMIN_SECRET"
  | "BAD_API_KEY"
  | "API_KEY_REQUIRED";

/** A request that does not prove who sent it: 401, with the reason as the code. */
export class UnauthorizedError extends PkipcError {
  override readonly code: AuthFailure;
  override readonly status = 401;
  constructor(code: AuthFailure, message: string) {
    super(message);
    this.code = code;
  }
}

/** Too many requests from one key: 429, with how long to wait. */
export class RateLimitError extends PkipcError {
  override readonly code = "RATE_LIMITED";
  override readonly status = 429;
  constructor(
    message: string,
    /** Whole seconds until a request would be accepted again (the Retry-After header). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A handler past its deadline: the signal's reason, and the refusal's text. */
export class HandlerDeadlineError extends PkipcError {
  override readonly code = "HANDLER_DEADLINE";
  override readonly status = 504;
}

/** This operating system has no implementation of what was asked (knock attribution, an autostart entry). */
export class UnsupportedPlatformError extends PkipcError {
  override readonly code = "UNSUPPORTED_PLATFORM";
}

/** Finding a knock's process failed for another reason than a process that exited or is off-limits (no /proc, a Win32 call that failed). */
export class AttributionError extends PkipcError {
  override readonly code = "ATTRIBUTION";
}

/** libSystem could not be opened: not macOS, or a macOS whose libSystem lacks these calls. */
export class DarwinUnavailableError extends PkipcError {
  override readonly code = "ATTRIBUTION_UNAVAILABLE";
}

/** An Info.plist this reader will not take: too big, malformed, or not a dictionary at the top. */
export class PlistError extends PkipcError {
  override readonly code = "PLIST_DECODE";
}

/** A macOS pcblist buffer that does not hold what its header says: the caller reports it and attributes nothing. */
export class PcbListError extends PkipcError {
  override readonly code = "PCBLIST_DECODE";
}

/** An autostart entry cannot be written or the service manager refused it; the message says what to run instead. */
export class AutostartError extends PkipcError {
  override readonly code = "AUTOSTART";
}

/** The demo could not deliver its key. */
export class DemoError extends PkipcError {
  override readonly code = "DEMO";
}

/** One sentence for a user: the message of a known error, the cause chain of an unknown one. */
export function describeError(error: unknown): string {
  if (error instanceof PkipcError) return error.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}

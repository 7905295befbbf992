// Typed errors with stable codes: the one place that decides what a user or an API client sees.

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
export class StoreUnavailableError extends PkipcError {
  override readonly code = "STORE_UNAVAILABLE";
  override readonly status = 503;
}

/** The bind-failure strategy cannot describe what the service saw within its bound. */
export class TooManyCompletionsError extends PkipcError {
  override readonly code = "TOO_MANY_COMPLETIONS";
  override readonly status = 400;
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

/** A response body grew past the bound its reader set: reading stopped there and the connection was dropped. */
export class ResponseTooLargeError extends PkipcError {
  override readonly code = "RESPONSE_TOO_LARGE";
  override readonly status = 502;
}

/** This desktop cannot show a consent dialog (no notification server with actions, no dialog program). */
export class DialogUnavailableError extends PkipcError {
  override readonly code = "DIALOG_UNAVAILABLE";
}

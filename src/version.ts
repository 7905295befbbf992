// The version pkipc reports, in --version, /healthz and the OpenAPI document.
export const VERSION = "0.4.0-dev";

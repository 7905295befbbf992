// `pkipc/client`: a stand-in for the SaaS's page (create a session, knock its code, wait for the link), for integrators' own tests.
export { runClient, type ClientOptions, type ClientResult } from "../client/index.ts";
export { transports } from "../../plugins/transport/index.ts";

// The knock transports, chosen by name: imported explicitly so the compiled binary holds them all.
import type { KnockTransport } from "../../src/protocol/transport.ts";
import { http } from "./http.ts";
import { tcp } from "./tcp.ts";
import { ws } from "./ws.ts";

export const transports = { tcp, http, ws } as const satisfies Record<string, KnockTransport>;

export type TransportName = keyof typeof transports;

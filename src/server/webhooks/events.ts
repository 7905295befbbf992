// The webhook events a session change makes: a link, and each instruction that reached its end.
import type { SessionStatus } from "../../protocol/schemas.ts";
import type { SessionRecord } from "../state/types.ts";

/** One event as a receiver gets it (the Standard Webhooks payload shape: type, timestamp, data). */
export interface WebhookEvent {
  /** The `webhook-id`: stable for the event, the same on every retry, so a receiver can drop duplicates. */
  id: string;
  /** The API key whose webhook gets it: the key that created the session. */
  apiKeyId: string;
  /** The JSON body, made once: every attempt sends the same bytes. */
  body: string;
}

/** States an instruction ends in; queued and delivered are on the way there. */
const unfinished = new Set(["queued", "delivered"]);

/**
 * The events that the change from `before` to `after` makes: `session.linked` (data: the session's status
 * as its backend reads it) when it became linked, `session.declined` (the same data, reason DECLINED) when the
 * local user said no, and `instruction.<state>` (done, refused, or any later
 * end state such as expired or failed; data: the session id and the instruction with its result) for each
 * instruction that reached an end. Sessions no API key created (a page's own) make none: nobody named a
 * webhook for them.
 */
export function eventsOf(
  before: SessionRecord,
  after: SessionRecord,
  statusOf: (record: SessionRecord) => SessionStatus,
  now = Date.now(),
): WebhookEvent[] {
  const apiKeyId = after.apiKeyId;
  if (apiKeyId === undefined) return [];
  const timestamp = new Date(now).toISOString();
  const event = (id: string, type: string, data: unknown): WebhookEvent => ({
    id,
    apiKeyId,
    body: JSON.stringify({ type, timestamp, data }),
  });
  const events: WebhookEvent[] = [];
  if (after.state === "linked" && before.state !== "linked")
    events.push(event(`msg_${after.id}_linked`, "session.linked", statusOf(after)));
  if (after.state === "declined" && before.state !== "declined")
    events.push(event(`msg_${after.id}_declined`, "session.declined", statusOf(after)));
  const was = new Map(before.instructions.map((i) => [i.id, i.state as string]));
  for (const i of after.instructions) {
    const state = i.state as string;
    if (unfinished.has(state) || was.get(i.id) === state) continue;
    const instruction = { id: i.id, name: i.name, state, ...(i.result === undefined ? {} : { result: i.result }) };
    events.push(
      event(`msg_${after.id}_${i.id}_${state}`, `instruction.${state}`, { sessionId: after.id, instruction }),
    );
  }
  return events;
}

// Signed webhooks: session changes become Standard Webhooks events, sent to the webhook of the API key that made the session.
import type { Logger } from "../../lib/log.ts";
import type { SessionStatus } from "../../protocol/schemas.ts";
import type { SessionRecord, WebhookTarget } from "../state/types.ts";
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSender, type WebhookSettings, webhookSender } from "./deliver.ts";
import { eventsOf } from "./events.ts";

export { checkWebhookUrl, webhookSecret } from "./sign.ts";
export type { WebhookTarget } from "../state/types.ts";
export { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from "./deliver.ts";

export interface Webhooks {
  /**
   * Called with each session change the server made (before, after): queues its events. Synchronous and
   * never throws, so the request that made the change neither waits for a delivery nor fails by one.
   */
  observe(before: SessionRecord, after: SessionRecord): void;
  sender: WebhookSender;
}

/** Webhooks for the API keys `targetOf` finds; `statusOf` renders a session as its backend reads it. */
export function createWebhooks(
  targetOf: (apiKeyId: string) => Promise<WebhookTarget | undefined>,
  statusOf: (record: SessionRecord) => SessionStatus,
  log: Logger,
  settings: WebhookSettings = DEFAULT_WEBHOOK_SETTINGS,
  userAgent?: string,
): Webhooks {
  const sender = webhookSender(targetOf, log, settings, userAgent);
  return {
    sender,
    observe(before, after) {
      try {
        for (const event of eventsOf(before, after, statusOf)) sender.send(event);
      } catch (error) {
        log.error("webhook events could not be made", { session: after.id, error: (error as Error).message });
      }
    },
  };
}

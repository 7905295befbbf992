// The bind-failure strategies, chosen by name: imported explicitly so the compiled binary holds them all.
import type { BindFailureStrategy } from "../../src/protocol/bind-failure.ts";
import { enumerate } from "./enumerate.ts";
import { serverMatch } from "./server-match.ts";

export const bindFailureStrategies = {
  enumerate,
  "server-match": serverMatch,
} as const satisfies Record<string, BindFailureStrategy>;

export type BindFailureName = keyof typeof bindFailureStrategies;

/** The strategy of that name, or undefined. */
export function findBindFailure(name: string): BindFailureStrategy | undefined {
  return Object.hasOwn(bindFailureStrategies, name) ? bindFailureStrategies[name as BindFailureName] : undefined;
}

/**
 * Exponential backoff with "equal jitter": half of the exponential delay is kept, the other half
 * is random, so retries of many requests spread out without ever retrying almost at once.
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

import { distance } from "fastest-levenshtein";

/** Two edits (a dropped, doubled or swapped letter) or fewer: a typo, not another word. */
export const MAX_SUGGESTION_DISTANCE = 2;

/**
 * The known name closest to `name` (case-insensitive) when it is near enough to be a typo of it. A
 * name only ever suggests a different name; an exact match is not a suggestion.
 */
export function nearest(name: string, known: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = MAX_SUGGESTION_DISTANCE + 1;
  for (const k of known) {
    if (k === name) continue;
    // Short names are one edit from many others: allow one edit below five letters.
    const limit = Math.min(
      MAX_SUGGESTION_DISTANCE,
      Math.max(1, Math.floor(Math.min(k.length, name.length) / 4)),
    );
    const d = distance(lower, k.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

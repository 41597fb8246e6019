import type { z } from "zod";

/**
 * One line naming the first bad field, e.g. `payloadData.expiryTime must be a number, got string`.
 * Never echoes the value itself: fields such as revokedToken or secret are credentials.
 */
export function zodReason(error: z.ZodError, pathPrefix: string): string {
  const issue = error.issues[0];
  if (issue === undefined) return `${pathPrefix || "value"} is invalid`;
  const path = [pathPrefix, ...issue.path.map(String)].filter((part) => part !== "").join(".") || "value";
  return `${path} ${describeIssue(issue)}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type": {
      if (!("input" in issue) || issue.input === undefined) return `is required (${article(issue.expected)})`;
      return `must be ${article(issue.expected)}, got ${typeName(issue.input)}`;
    }
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      // A schema's own message says the rule in WSO2's words; zod's default ("Too small: ...") does not.
      if (!issue.message.startsWith("Too small")) return issue.message;
      if (issue.origin === "string" && Number(issue.minimum) === 1) return "must not be empty";
      return `must be at least ${issue.minimum}${issue.origin === "string" ? " characters long" : ""}`;
    case "too_big":
      if (!issue.message.startsWith("Too big")) return issue.message;
      return `must be at most ${issue.maximum}${issue.origin === "string" ? " characters long" : ""}`;
    case "invalid_union":
      // A union given its own error message says what it accepts; zod's default says nothing useful.
      return issue.message === "Invalid input" ? "does not match any accepted shape" : issue.message;
    case "invalid_format":
    case "custom":
      return issue.message;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === "int") return "an integer";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

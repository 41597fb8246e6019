import { filesOfDto } from "../artifacts/artifact-files.js";
import { parseGatewayApiDto } from "../artifacts/gateway-api-dto.js";
import { relPathOf } from "../artifacts/names.js";
import type { GatewayApiDto } from "../artifacts/types.js";

/**
 * The files a gateway writes for an API, as relative paths (`api/admin--X_v1.xml`, `sequences/s.xml`):
 * what "one file, one API" is checked on. WSO2's own sequences (the built-in skip list) are never
 * written, so two APIs naming them do not collide.
 */
export function apiFiles(dto: GatewayApiDto): string[] {
  return filesOfDto(dto).map((f) => relPathOf(f.kind, f.fileName));
}

/** apiFiles of a stored artifact's JSON; none when it cannot be read (it could not be deployed either). */
export function apiFilesOf(artifactJson: string): string[] {
  try {
    return apiFiles(parseGatewayApiDto(artifactJson));
  } catch {
    return [];
  }
}

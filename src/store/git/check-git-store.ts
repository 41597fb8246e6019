import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { GitStoreConfig } from "../../config/types.js";
import { GitCli } from "../../git/git-cli.js";
import { maskUrl } from "../../security/secrets.js";

/** What `gwsync config check` reports about a Git store (changing nothing). */
export interface GitStoreCheck {
  repository: string;
  branch: string;
  ok: boolean;
  /** The repository: created yet or not, where its branch is against what the store recorded. */
  detail: string;
  head?: string;
  remote?: { url: string; ok: boolean; detail: string; head?: string };
}

/** How long `git ls-remote` may take in a check. */
const REMOTE_CHECK_TIMEOUT_MS = 20_000;

/** The head the store's SQLite file recorded (undefined: no file, no Git tables yet, or none recorded). */
function recordedHead(sqliteFile: string): string | undefined {
  if (!existsSync(sqliteFile)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
    const row = db.prepare("SELECT HEAD FROM GWSYNC_GIT_STATE WHERE ID = 1").get() as
      | { HEAD: string | null }
      | undefined;
    return row?.HEAD ?? undefined;
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}

/**
 * Check a Git store's settings where `config check` runs: git is installed, the repository exists (or
 * can be created), its branch against the head the store recorded (what a start would repair or
 * refuse), and, unless `offline`, that the remote answers with the configured credentials. Never throws.
 */
export async function checkGitStore(
  git: GitStoreConfig,
  sqliteFile: string,
  options: { offline?: boolean } = {},
): Promise<GitStoreCheck> {
  const base = { repository: git.repository, branch: git.branch };
  const cli = new GitCli({ gitDir: git.repository, timeoutMs: REMOTE_CHECK_TIMEOUT_MS });
  try {
    await cli.exec(["--version"]);
  } catch (err) {
    return { ...base, ok: false, detail: (err as Error).message };
  }
  const out: GitStoreCheck = { ...base, ok: true, detail: "" };
  const recorded = recordedHead(sqliteFile);
  if (!existsSync(path.join(git.repository, "HEAD"))) {
    if (existsSync(git.repository) && readdirSync(git.repository).length > 0) {
      return { ...out, ok: false, detail: `${git.repository} is neither a Git repository nor empty` };
    }
    let parent = git.repository;
    while (!existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
    try {
      accessSync(parent, constants.W_OK);
    } catch {
      return { ...out, ok: false, detail: `no repository yet, and ${parent} is not writable to create it` };
    }
    out.detail =
      recorded === undefined
        ? "no repository yet: the publisher creates it"
        : `no repository, but the store recorded commit ${recorded}: the publisher restores it from the remote, or refuses to start`;
    out.ok = recorded === undefined || git.remoteUrl !== undefined;
  } else {
    const r = await cli.exec(["rev-parse", "--verify", "--quiet", `refs/heads/${git.branch}^{commit}`]);
    const head = r.code === 0 ? r.stdout.toString("utf8").trim() : undefined;
    if (head !== undefined) out.head = head;
    if (recorded === undefined) {
      out.detail = head === undefined ? "repository ready, branch not born yet" : `branch at ${head}`;
    } else if (head === recorded) {
      out.detail = `branch at ${head}, the commit the store recorded`;
    } else if (head !== undefined && (await cli.isAncestor(recorded, head)) === true) {
      out.detail = `branch at ${head}, ahead of ${recorded} the store recorded: the publisher takes the commits after it off the branch at start (a crash left them)`;
    } else {
      out.ok = false;
      out.detail = `branch at ${head ?? "nothing"}, which does not reach ${recorded}, the commit the store recorded: the publisher refuses to start (git --git-dir=${git.repository} update-ref refs/heads/${git.branch} ${recorded} puts it back)`;
    }
  }
  if (git.remoteUrl !== undefined) {
    const url = maskUrl(git.remoteUrl);
    if (options.offline) {
      out.remote = { url, ok: true, detail: "not checked (--offline)" };
    } else {
      const creds =
        git.username !== undefined && git.password !== undefined
          ? { username: git.username, password: git.password }
          : undefined;
      const remote = new GitCli({
        gitDir: git.repository,
        credentials: creds,
        timeoutMs: REMOTE_CHECK_TIMEOUT_MS,
      });
      const r = await remote
        .exec(["ls-remote", "--heads", git.remoteUrl, `refs/heads/${git.branch}`])
        .catch((err: Error) => ({ code: -1, stdout: Buffer.alloc(0), stderr: err.message }));
      if (r.code !== 0) {
        out.remote = { url, ok: false, detail: maskUrl(r.stderr || `git ls-remote exited ${r.code}`) };
        out.ok = false;
      } else {
        const remoteHead = r.stdout.toString("utf8").split("\t")[0]?.trim() || undefined;
        let detail =
          remoteHead === undefined
            ? "answers; its branch does not exist yet (the first push creates it)"
            : `answers; branch at ${remoteHead}`;
        if (remoteHead !== undefined && out.head !== undefined && remoteHead !== out.head) {
          const behind = await cli.isAncestor(remoteHead, out.head);
          detail +=
            behind === true
              ? " (behind: the publisher pushes the rest)"
              : " (holds commits this store does not know: pushes will be refused)";
        }
        out.remote = { url, ok: true, detail, ...(remoteHead === undefined ? {} : { head: remoteHead }) };
      }
    }
  }
  return out;
}

import { type ChildProcess, fork } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { AppliedLog, KILLED } from "./invariants.js";

/** Bounded waits for a child: tsx compiles on start, so a child needs a few seconds on a loaded CI box. */
export const CHILD_READY_TIMEOUT_MS = 60_000;
export const CHILD_EXIT_TIMEOUT_MS = 30_000;

const GATEWAY_SCRIPT = fileURLToPath(new URL("./gateway-proc.ts", import.meta.url));
const PUBLISHER_SCRIPT = fileURLToPath(new URL("./publisher-proc.ts", import.meta.url));
const CLONE_SCRIPT = fileURLToPath(new URL("./clone-proc.ts", import.meta.url));

/** Messages a child sends over IPC (see gateway-proc.ts and publisher-proc.ts). */
export type ChildMessage = { type: string; [key: string]: unknown };

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A gateway or publisher in its own process, so `kill -9` is real: nothing runs after the signal, no
 * finally, no flush. The child reports over IPC; every message is re-emitted here under its `type`
 * (so `waitFor(child, "applied", ...)` counts them) and kept in `messages` counts.
 */
export class ChildService extends EventEmitter {
  readonly proc: ChildProcess;
  readonly #exit: Promise<ChildExit>;
  #ready: Promise<ChildMessage>;
  exited: ChildExit | undefined;
  readonly counts = new Map<string, number>();
  stderr = "";
  /** A gateway's applied log (JSON lines), where kill9() notes the kill. */
  appliedLogFile: string | undefined;

  private constructor(script: string, args: string[], env: NodeJS.ProcessEnv) {
    super();
    this.setMaxListeners(100);
    this.proc = fork(script, args, {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    this.proc.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    this.proc.on("message", (m: ChildMessage) => {
      this.counts.set(m.type, (this.counts.get(m.type) ?? 0) + 1);
      this.emit(m.type, m);
      this.emit("message", m);
    });
    this.#exit = new Promise((resolve) => {
      this.proc.once("exit", (code, signal) => {
        this.exited = { code, signal };
        this.emit("exit", this.exited);
        resolve(this.exited);
      });
    });
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${script} not ready within ${CHILD_READY_TIMEOUT_MS} ms\n${this.stderr}`)),
        CHILD_READY_TIMEOUT_MS,
      );
      this.once("ready", (m: ChildMessage) => {
        clearTimeout(timer);
        resolve(m);
      });
      void this.#exit.then((e) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (${e.code ?? e.signal}) before it was ready\n${this.stderr}`));
      });
    });
    this.#ready.catch(() => undefined);
  }

  /** `node --import tsx test/harness/gateway-proc.ts <config.toml> <applied.jsonl>` */
  static gateway(configFile: string, appliedLogFile: string, env: NodeJS.ProcessEnv = {}): ChildService {
    const child = new ChildService(GATEWAY_SCRIPT, [configFile, appliedLogFile], env);
    child.appliedLogFile = appliedLogFile;
    return child;
  }

  /** `node --import tsx test/harness/publisher-proc.ts <config.toml>` */
  static publisher(configFile: string, env: NodeJS.ProcessEnv = {}): ChildService {
    return new ChildService(PUBLISHER_SCRIPT, [configFile], env);
  }

  /** `node --import tsx test/harness/clone-proc.ts <config.toml>`: a clone publisher whose pulls report over IPC. */
  static clone(configFile: string, env: NodeJS.ProcessEnv = {}): ChildService {
    return new ChildService(CLONE_SCRIPT, [configFile], env);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }

  /** Resolves with the child's "ready" message (its HTTP URL, ...). */
  ready(): Promise<ChildMessage> {
    return this.#ready;
  }

  send(m: ChildMessage): void {
    if (this.proc.connected) this.proc.send(m);
  }

  /** Ask and wait for the reply of type `reply`. */
  request(m: ChildMessage, reply: string, timeoutMs = CHILD_EXIT_TIMEOUT_MS): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${reply} from pid ${this.pid} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.once(reply, (r: ChildMessage) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.send(m);
    });
  }

  /** kill -9: the process dies mid-instruction (noted in its applied log, for the judge). */
  kill9(): Promise<ChildExit> {
    if (!this.exited) {
      this.proc.kill("SIGKILL");
      if (this.appliedLogFile)
        new AppliedLog(this.appliedLogFile).add({ t: Date.now(), pid: this.pid, outcome: KILLED, apiId: "" });
    }
    return this.exit();
  }

  /** Graceful stop over IPC (the service's close(), then exit 0). */
  async stop(): Promise<ChildExit> {
    if (this.exited) return this.exited;
    this.send({ type: "close" });
    return this.exit();
  }

  /** Resolves when the process has exited (bounded). */
  exit(timeoutMs = CHILD_EXIT_TIMEOUT_MS): Promise<ChildExit> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`pid ${this.pid} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
      void this.#exit.then((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}

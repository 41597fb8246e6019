import { Command, CommanderError } from "commander";
import { registerConfigCheck } from "./config-check-command.js";
import { registerDemo } from "./demo-command.js";
import { registerHistory } from "./history-commands.js";
import { registerKeys } from "./keys-command.js";
import { EXIT_RUNTIME, EXIT_USAGE, ExitError, toExit } from "./common.js";
import { registerPublish, registerRemove } from "./publish-command.js";
import { registerReplication } from "./replication-command.js";
import { registerServices } from "./service-commands.js";
import { GWSYNC_VERSION } from "../version.js";
import { registerStatus } from "./status-command.js";
import { registerStore } from "./store-command.js";

export function buildProgram(): Command {
  const program = new Command("gwsync")
    .description("Keeps API gateways in step with their control plane over AMQP (WSO2-compatible)")
    .version(GWSYNC_VERSION, "-V, --version")
    .exitOverride()
    .showHelpAfterError("(gwsync --help lists the commands)");
  registerServices(program);
  registerPublish(program);
  registerRemove(program);
  registerHistory(program);
  registerStatus(program);
  registerConfigCheck(program);
  registerDemo(program);
  registerKeys(program);
  registerReplication(program);
  registerStore(program);
  return program;
}

/** How long a failed command may take to let its last log lines out before it is made to exit. */
const FAILED_EXIT_GRACE_MS = 2000;

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const e = toExit(err);
    process.stderr.write(`${e.message}\n`);
    return e.exitCode;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // A command that failed exits even if something it began still holds the event loop (a socket or
    // a watch a failed start left behind): the error is printed, waiting would only hang. Unref'd: a
    // process with nothing left open exits at once.
    if (code !== 0) setTimeout(() => process.exit(code), FAILED_EXIT_GRACE_MS).unref();
  },
  (err: unknown) => {
    process.stderr.write(`gwsync: ${(err as Error).message}\n`);
    process.exitCode = err instanceof ExitError ? err.exitCode : EXIT_RUNTIME;
  },
);

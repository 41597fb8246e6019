import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { GwsyncError } from "../errors.js";
import { ensureKeyPair, writeNewFile } from "../security/key-files.js";
import { generateSigningKeyPair } from "../security/signing.js";

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * `gwsync keys generate`: a new Ed25519 key pair for signed artifacts (docs/production.md, "Signed
 * artifacts"): <name>.key (PKCS#8 PEM, mode 0600) for [gwsync.signing] private_key_file of the
 * publisher, <name>.pub (SPKI PEM) for trusted_keys of gateways, relays and other regions.
 */
export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("signing keys for signed artifacts");
  keys
    .command("generate")
    .description("write a new Ed25519 key pair: <name>.key (mode 0600) and <name>.pub")
    .option("-o, --out <dir>", "folder to write the two files into", ".")
    .option("-n, --name <name>", "file name without extension (default: gwsync-<key id>)")
    .option("--keep-existing", "do nothing when <name>.key and <name>.pub are both there already (setup jobs)")
    .option("--json", "print the result as JSON")
    .action((opts: { out: string; name?: string; json?: boolean; keepExisting?: boolean }) => {
      if (opts.name !== undefined && !NAME.test(opts.name)) {
        throw new GwsyncError("GWSYNC_USAGE", "--name may hold only letters, digits, '.', '_' and '-' (at most 64)");
      }
      const dir = resolve(opts.out);
      if (opts.keepExisting && opts.name !== undefined) {
        const kept = ensureKeyPair(dir, opts.name);
        process.stdout.write(`${opts.json ? JSON.stringify(kept) : `key pair ${kept.privateKeyFile}, ${kept.publicKeyFile}`}\n`);
        return;
      }
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const pair = generateSigningKeyPair();
      const name = opts.name ?? `gwsync-${pair.keyId}`;
      const privateKeyFile = join(dir, `${name}.key`);
      const publicKeyFile = join(dir, `${name}.pub`);
      writeNewFile(privateKeyFile, pair.privateKeyPem, 0o600);
      writeNewFile(publicKeyFile, pair.publicKeyPem, 0o644);
      const result = { keyId: pair.keyId, privateKeyFile, publicKeyFile };
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(result)}\n`
          : `key ${pair.keyId}\n  private: ${privateKeyFile} (mode 0600: [gwsync.signing] private_key_file of the publisher)\n  public:  ${publicKeyFile} ([gwsync.signing] trusted_keys of gateways and relays)\n`,
      );
    });
}

/**
 * The `countersign` command: picks the command module (src/cli/commands/, one per command, each
 * with its option parser) and turns what it returns or throws into the exit code and output.
 */
import { CountersignError } from '../shared/errors';
import { attest } from './commands/attest';
import { audit } from './commands/audit';
import { gate } from './commands/gate';
import { kek } from './commands/kek';
import { keys } from './commands/keys';
import { serve } from './commands/serve';
import { sign } from './commands/sign';
import { HelpRequested, UsageError } from './commands/support';
import { token } from './commands/token';
import { verify } from './commands/verify';
import { verifyBundleCommand } from './commands/verify-bundle';
import { isTopic, usageOf, USAGE } from './usage';
import { policyCommand } from './commands/policy';
import { printOut, printErr } from './output';

/** Exit codes: 0 success, 1 the operation failed, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'gate':
        return await gate(rest);
      case 'sign':
        return await sign(rest);
      case 'attest':
        return await attest(rest);
      case 'keys':
        return await keys(rest);
      case 'verify':
        return await verify(rest);
      case 'audit':
        return await audit(rest);
      case 'token':
        return await token(rest);
      case 'kek':
        return await kek(rest);
      case 'policy':
        return await policyCommand(rest);
      case 'verify-bundle':
        return verifyBundleCommand(rest);
      case undefined:
        printOut(`${USAGE}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h': {
        // `countersign help keys rotate` is `countersign keys rotate --help`.
        const topic = rest.join(' ');
        if (topic && !isTopic(topic)) return usage(`no command "${topic}"`);
        printOut(`${topic ? usageOf(topic) : USAGE}\n`);
        return 0;
      }
      default:
        return usage(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof HelpRequested) {
      printOut(`${usageOf(err.topic)}\n`);
      return 0;
    }
    if (err instanceof UsageError) return usage(err.message, err.topic);
    const msg = err instanceof CountersignError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    printErr(`countersign: ${msg}\n`);
    return 1;
  }
}

function usage(message: string, topic?: string): number {
  printErr(`countersign: ${message}\n${topic ? usageOf(topic) : USAGE}\n`);
  return 2;
}

// `node dist/cli/main.js …` (what `npm start` and the systemd unit run) as well as bin/countersign.
if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      printErr(`countersign: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}

/**
 * `countersign policy get` / `countersign policy set FILE [--expected-revision R]`: PolicyService
 * over gRPC, like the `keys` commands (role verifier or policy-admin to read, policy-admin to set).
 *
 * `policy get` prints the policy text preceded by its provenance as YAML comments, so its output
 * is itself a valid policy: `policy get > p.yaml`, edit, `policy set p.yaml --expected-revision R`
 * with the revision it showed (compare-and-set: refused if someone changed the policy meanwhile).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Policy__Output as PolicyMsg } from '../../grpc/generated/countersign/v1/Policy';
import { call, describeGrpcError, policyClient, serverAddress, timestampText, useConnection } from '../client';
import { clientConnection } from './support';
import { usageOf } from '../usage';
import { printOut, printErr } from '../output';

const SOURCE_TEXT: Record<string, string> = {
  POLICY_SOURCE_FILE: 'file',
  POLICY_SOURCE_STORE: 'store (set through SetPolicy)',
  POLICY_SOURCE_NONE: 'none (the built-in default: every image needs a valid signature by a trusted key)',
};

/** Exit status: 0 done, 1 the server refused or could not be reached, 2 usage error. */
export async function policyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const topic = sub === 'get' || sub === 'set' ? `policy ${sub}` : 'policy';
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        json: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '60' },
        'expected-revision': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // An unknown option next to --help still gets the help asked for.
    if (rest.some((a) => a === '--help' || a === '-h')) {
      printOut(`${usageOf(topic)}\n`);
      return 0;
    }
    return usageError((err as Error).message, topic);
  }
  const { values, positionals } = parsed;
  if (values.help || sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    printOut(`${usageOf(topic)}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (topic === 'policy') return usageError(`unknown policy command "${sub}" (get, set)`, topic);
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) return usageError('--timeout must be a positive number of seconds', topic);

  let method: 'GetPolicy' | 'SetPolicy';
  let request: Record<string, unknown>;
  if (sub === 'get') {
    if (positionals.length > 0 || values['expected-revision'] !== undefined) return usageError('policy get takes no arguments', topic);
    method = 'GetPolicy';
    request = {};
  } else {
    const [file] = positionals;
    if (file === undefined || positionals.length !== 1) {
      return usageError(`expected exactly one policy FILE, got ${positionals.length}`, topic);
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      printErr(`countersign: cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 1;
    }
    const expected = values['expected-revision'];
    // Sent only when given: absent means "set unconditionally", an empty value is refused by the server.
    method = 'SetPolicy';
    request = { text, ...(expected !== undefined ? { expectedRevision: expected } : {}) };
  }

  useConnection(clientConnection(values));
  const address = serverAddress(values.server);
  let client: ReturnType<typeof policyClient> | undefined;
  try {
    client = policyClient(address);
    const res = await call<{ policy: PolicyMsg | null; previousRevision?: string }>(client, method, request, timeout * 1000);
    const policy = res.policy;
    if (values.json) {
      printOut(`${JSON.stringify(method === 'SetPolicy' ? res : policy, null, 2)}\n`);
    } else if (method === 'SetPolicy') {
      printOut(`policy revision ${policy?.revision ?? '?'} is in force (it replaced ${res.previousRevision || '?'})\n`);
    } else if (policy) {
      printOut(describePolicy(policy));
    }
    return 0;
  } catch (err) {
    printErr(`countersign: ${describeGrpcError(err, address)}\n`);
    return 1;
  } finally {
    client?.close();
  }
}

/** Provenance as YAML comments, then the text: the output is a policy document itself. */
function describePolicy(p: PolicyMsg): string {
  const lines = [`# revision: ${p.revision}`, `# source: ${SOURCE_TEXT[p.source] ?? p.source}`];
  if (p.file) lines.push(`# file: ${p.file}`);
  if (p.setBy) lines.push(`# set by: ${p.setBy}`);
  if (p.setTime) lines.push(`# set at: ${timestampText(p.setTime)}`);
  const text = p.text === '' ? '' : p.text.endsWith('\n') ? p.text : `${p.text}\n`;
  return `${lines.join('\n')}\n${text}`;
}

function usageError(message: string, topic: string): number {
  printErr(`countersign: ${message}\n${usageOf(topic)}\n`);
  return 2;
}

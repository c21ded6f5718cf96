/** `countersign keys create|import|list|show|rotate|revoke`: the KeyService calls and how keys are printed. */
import type { Key__Output as KeyMsg } from '../../grpc/generated/countersign/v1/Key';
import { call, keyClient, timestampMs, timestampText } from '../client';
import { displayUntrusted } from '../../shared/untrusted-text';
import { keyKindLines } from '../key-facts';
import { printOut } from '../output';
import {
  clientOptions,
  durationSeconds,
  onePositional,
  parse,
  readFileArg,
  subcommand,
  timeoutMs,
  usageTopic,
  UsageError,
  withServer,
} from './support';

function describeKey(k: KeyMsg): string {
  const validFrom = timestampText(k.validFromTime);
  const validUntil = timestampText(k.validUntilTime);
  const state = k.state.replace('KEY_STATE_', '').toLowerCase();
  const purpose = k.purpose.replace('KEY_PURPOSE_', '').toLowerCase();
  const lines = [
    `${k.name} v${k.version}  ${state}${k.stateReason ? ` (${displayUntrusted(k.stateReason, 1024)})` : ''}  ${purpose}`,
    `  id:          ${k.id}`,
    ...keyKindLines(k),
    ...(k.ownerTeam ? [`  owner:       ${displayUntrusted(k.ownerTeam)}`] : []),
    ...(k.scopes.length ? [`  scopes:      ${k.scopes.join(', ')}`] : []),
    ...(validFrom || validUntil ? [`  valid:       ${validFrom || '…'} to ${validUntil || '…'}`] : []),
    `  created:     ${timestampText(k.createTime)} by ${displayUntrusted(k.createdBy)}`,
    ...(k.successorId ? [`  successor:   ${k.successorId}`] : []),
    ...(k.predecessorId ? [`  predecessor: ${k.predecessorId}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** What became of the old version: whether it still verifies, and until when. */
function rotationOutcome(previous: KeyMsg): string {
  const until = previous.validUntilTime;
  const stateChanged = previous.stateChangeTime;
  if (until && stateChanged && timestampMs(until) <= timestampMs(stateChanged)) {
    return `version ${previous.version} stopped verifying at once (no overlap): its signatures no longer count`;
  }
  return `version ${previous.version} verifies until ${timestampText(until) || '(no end)'}`;
}

export async function keys(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('keys', first);
  const { values, positionals } = parse(
    rest,
    {
      ...clientOptions,
      owner: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'valid-from': { type: 'string' },
      'valid-until': { type: 'string' },
      'public-key': { type: 'string' },
      'cosign-key': { type: 'string' },
      'ca-bundle': { type: 'string' },
      'password-file': { type: 'string' },
      overlap: { type: 'string' },
      reason: { type: 'string' },
      active: { type: 'boolean', default: false },
    },
    usageTopic('keys', sub),
  );
  let method: string;
  let request: Record<string, unknown>;
  switch (sub) {
    case 'create':
      method = 'CreateKey';
      request = {
        name: onePositional(positionals, 'NAME'),
        ownerTeam: values.owner ?? '',
        scopes: values.scope ?? [],
        validUntil: values['valid-until'] ?? '',
      };
      break;
    case 'import': {
      method = 'ImportKey';
      const name = onePositional(positionals, 'NAME');
      const base = {
        name,
        ownerTeam: values.owner ?? '',
        scopes: values.scope ?? [],
        validFrom: values['valid-from'] ?? '',
        validUntil: values['valid-until'] ?? '',
      };
      const given = ['public-key', 'cosign-key', 'ca-bundle'].filter((o) => values[o as 'public-key'] !== undefined);
      if (given.length !== 1)
        throw new UsageError('keys import needs exactly one of --public-key FILE, --ca-bundle FILE or --cosign-key FILE');
      if (values['public-key']) {
        request = { ...base, publicKeyPem: readFileArg(values['public-key'], 'public key file') };
      } else if (values['ca-bundle']) {
        request = { ...base, caBundlePem: readFileArg(values['ca-bundle'], 'CA bundle file') };
      } else {
        // cosign's own convention: the password comes from COSIGN_PASSWORD (or a file), never a flag.
        const password = values['password-file']
          ? readFileArg(values['password-file'], 'password file').replace(/\r?\n$/, '')
          : (process.env.COSIGN_PASSWORD ?? '');
        request = { ...base, cosignPrivateKeyPem: readFileArg(values['cosign-key'] ?? '', 'cosign key file'), password };
      }
      break;
    }
    case 'list':
      method = 'ListKeys';
      request = { activeOnly: values.active };
      break;
    case 'show':
      method = 'GetKey';
      request = { key: onePositional(positionals, 'NAME or id') };
      break;
    case 'rotate':
      method = 'RotateKey';
      // Sent only when given: `--overlap 0` is an explicit zero (no overlap), no flag is the server's default.
      request = {
        key: onePositional(positionals, 'NAME or id'),
        ...(values.overlap !== undefined ? { overlap: { seconds: durationSeconds(values.overlap), nanos: 0 } } : {}),
        reason: values.reason ?? '',
      };
      break;
    case 'revoke':
      method = 'RevokeKey';
      if (!values.reason) throw new UsageError('keys revoke needs --reason TEXT');
      request = { key: onePositional(positionals, 'NAME or id'), reason: values.reason };
      break;
    default:
      throw new UsageError(`unknown keys command "${sub ?? ''}" (create, import, list, show, rotate, revoke)`);
  }
  const timeout = timeoutMs(values.timeout);
  return withServer(values, keyClient, 1, async (client) => {
    const res = await call<{ key?: KeyMsg | null; keys?: KeyMsg[]; previous?: KeyMsg | null; current?: KeyMsg | null }>(
      client,
      method,
      request,
      timeout,
    );
    if (values.json) {
      printOut(`${JSON.stringify(res.keys ?? res.key ?? { previous: res.previous, current: res.current }, null, 2)}\n`);
    } else if (res.keys) {
      for (const k of res.keys) printOut(describeKey(k));
    } else if (res.current && res.previous) {
      printOut(`rotated ${res.current.name}: version ${res.current.version} signs from now on; ${rotationOutcome(res.previous)}\n`);
      printOut(describeKey(res.current));
      printOut(res.current.publicKeyPem);
    } else if (res.key) {
      printOut(describeKey(res.key));
      // A CA bundle is not a key: its first CA's public key would read as one that is trusted to sign.
      if ((sub === 'create' || sub === 'import' || sub === 'show') && res.key.kind !== 'ca-bundle') printOut(res.key.publicKeyPem);
    }
    return 0;
  });
}

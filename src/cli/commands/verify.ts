/** `countersign verify IMAGE`: VerificationService/Verify; exit 0 allowed, 1 denied, 2 error. */
import type { VerifyResponse__Output } from '../../grpc/generated/countersign/v1/VerifyResponse';
import { call, verificationClient } from '../client';
import { clientOptions, onePositional, parse, parseAnnotations, timeoutMs, UsageError, withServer } from './support';

export async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...clientOptions,
      action: { type: 'string', default: 'deploy' },
      namespace: { type: 'string' },
      identity: { type: 'string' },
      label: { type: 'string', multiple: true },
    },
    'verify',
  );
  const image = onePositional(positionals, 'IMAGE');
  const action = values.action.toLowerCase();
  if (!['deploy', 'push', 'pull'].includes(action)) throw new UsageError('--action must be deploy, push or pull');
  const request = {
    image,
    action: `ACTION_${action.toUpperCase()}`,
    context: { namespace: values.namespace ?? '', identity: values.identity ?? '', labels: parseAnnotations(values.label ?? []) },
  };
  const timeout = timeoutMs(values.timeout);
  return withServer(values, verificationClient, 2, async (client) => {
    const r = await call<VerifyResponse__Output>(client, 'Verify', request, timeout);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    } else {
      const mode = r.mode.replace('MODE_', '').toLowerCase();
      process.stdout.write(`${r.allowed ? 'ALLOWED' : 'DENIED'} ${r.image}${r.digest ? ` (${r.digest})` : ''}\n`);
      process.stdout.write(
        `  rule: ${r.rule}   mode: ${mode}   policy: ${r.policyRevision}   trust: ${r.trustRevision}${r.cached ? '   (cached evidence)' : ''}\n`,
      );
      for (const q of r.requirements) process.stdout.write(`  ${q.satisfied ? 'ok  ' : 'FAIL'} ${q.requirement}: ${q.message}\n`);
      for (const w of r.warnings) process.stdout.write(`  warning: ${w}\n`);
      for (const e of r.evidence) {
        const what = e.predicateType || e.format;
        const signer = e.identity ? `keyless ${e.identity.subject} (issuer ${e.identity.issuer})` : `key ${e.keyName}`;
        process.stdout.write(
          `  evidence ${e.referrerDigest.slice(0, 19)}… ${e.format} ${what} ${e.verified ? `verified (${signer})` : `not verified: ${e.reason}`}\n`,
        );
      }
    }
    return r.allowed ? 0 : 1;
  });
}

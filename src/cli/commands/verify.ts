/** `countersign verify IMAGE`: VerificationService/Verify; exit 0 allowed, 1 denied, 2 error. */
import type { VerifyResponse__Output } from '../../grpc/generated/countersign/v1/VerifyResponse';
import { call, verificationClient } from '../client';
import { displayUntrusted } from '../../shared/untrusted-text';
import { clientOptions, onePositional, parse, parseAnnotations, timeoutMs, UsageError, withServer } from './support';
import { printErr, printOut } from '../output';

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
  const pinned = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
  return withServer(values, verificationClient, 2, async (client) => {
    const r = await call<VerifyResponse__Output>(client, 'Verify', request, timeout);
    // CI gates a release on this exit code: an answer about another digest than the one pinned
    // (a proxy, an impersonating server, a bug) or an allow naming none is no verdict on IMAGE.
    const wrongDigest = pinned !== undefined && r.digest !== pinned;
    if (wrongDigest || (r.allowed && !/^sha256:[0-9a-f]{64}$/.test(r.digest))) {
      printErr(
        `countersign: the server answered about ${r.digest ? displayUntrusted(r.digest, 80) : 'no digest'}${pinned ? `, not ${pinned} as asked` : ''}: no verdict on ${displayUntrusted(image)}\n`,
      );
      return 2;
    }
    // Every field is server text (reasons quote registry content): quoted where unsafe, one line each.
    const t = (text: string) => displayUntrusted(text, 4096);
    if (values.json) {
      printOut(`${JSON.stringify(r, null, 2)}\n`);
    } else {
      const mode = r.mode.replace('MODE_', '').toLowerCase();
      printOut(`${r.allowed ? 'ALLOWED' : 'DENIED'} ${t(r.image)}${r.digest ? ` (${t(r.digest)})` : ''}\n`);
      printOut(
        `  rule: ${t(r.rule)}   mode: ${t(mode)}   policy: ${t(r.policyRevision)}   trust: ${t(r.trustRevision)}${r.cached ? '   (cached evidence)' : ''}\n`,
      );
      for (const q of r.requirements) printOut(`  ${q.satisfied ? 'ok  ' : 'FAIL'} ${t(q.requirement)}: ${t(q.message)}\n`);
      for (const w of r.warnings) printOut(`  warning: ${t(w)}\n`);
      for (const e of r.evidence) {
        const what = t(e.predicateType || e.format);
        const signer = e.identity ? `keyless ${t(e.identity.subject)} (issuer ${t(e.identity.issuer)})` : `key ${t(e.keyName)}`;
        printOut(
          `  evidence ${t(e.referrerDigest.slice(0, 19))}… ${t(e.format)} ${what} ${e.verified ? `verified (${signer})` : `not verified: ${t(e.reason)}`}\n`,
        );
      }
    }
    return r.allowed ? 0 : 1;
  });
}

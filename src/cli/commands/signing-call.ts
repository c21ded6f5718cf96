/** The Sign / Attest call `sign` and `attest` share, and how its answer is printed. */
import { CountersignError } from '../../shared/errors';
import type { SignResponse__Output } from '../../grpc/generated/countersign/v1/SignResponse';
import { call, signingClient } from '../client';
import { timeoutMs, withServer } from './support';
import { printOut } from '../output';

export async function runSigningCall(
  values: { server?: string; token?: string; json: boolean; timeout?: string },
  method: 'Sign' | 'Attest',
  request: unknown,
): Promise<number> {
  const timeout = timeoutMs(values.timeout);
  return withServer(values, signingClient, 1, async (client) => {
    const { result } = await call<SignResponse__Output>(client, method, request, timeout);
    // A message field may be absent on the wire: a server that sent none is answered here, not with a TypeError.
    if (!result) throw new CountersignError('INTERNAL', `the server's ${method} answer carried no result`);
    if (values.json) {
      printOut(`${JSON.stringify({ ...result, bundle: JSON.parse(result.bundle) as unknown }, null, 2)}\n`);
    } else {
      const what = method === 'Sign' ? 'signed' : `attested (${result.summary})`;
      printOut(
        `${what} ${result.image}\n  digest:   ${result.digest}\n  key:      ${result.keyName} (${result.keyId})\n` +
          `  predicate: ${result.predicateType}\n  referrer: ${result.referrerDigest} (referrers ${result.referrersIndex === 'api' ? 'API' : 'tag index'})\n`,
      );
    }
    return 0;
  });
}

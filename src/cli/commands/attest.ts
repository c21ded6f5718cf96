/** `countersign attest IMAGE --key NAME --type … --predicate FILE`: SigningService/Attest. */
import { readFileSync } from 'node:fs';
import { CountersignError } from '../../shared/errors';
import { runSigningCall } from './signing-call';
import { clientOptions, onePositional, parse, parseAnnotations, UsageError } from './support';

export async function attest(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...clientOptions,
      key: { type: 'string' },
      type: { type: 'string' },
      predicate: { type: 'string' },
      'scan-time': { type: 'string' },
      annotation: { type: 'string', short: 'a', multiple: true },
    },
    'attest',
  );
  const image = onePositional(positionals, 'IMAGE');
  if (!values.key) throw new UsageError('--key NAME is required');
  if (!values.type) throw new UsageError('--type spdx|cyclonedx|vuln|URI is required');
  if (!values.predicate) throw new UsageError('--predicate FILE is required');
  let predicate: Buffer;
  try {
    predicate = readFileSync(values.predicate);
  } catch (err) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `cannot read predicate file ${values.predicate}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const request = {
    image,
    key: values.key,
    predicateType: values.type,
    predicate,
    scanTime: values['scan-time'] ?? '',
    annotations: parseAnnotations(values.annotation ?? []),
  };
  return runSigningCall(values, 'Attest', request);
}

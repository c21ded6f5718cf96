/** `countersign sign IMAGE --key NAME`: SigningService/Sign. */
import { runSigningCall } from './signing-call';
import { clientOptions, onePositional, parse, parseAnnotations, UsageError } from './support';

export async function sign(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...clientOptions,
      key: { type: 'string' },
      annotation: { type: 'string', short: 'a', multiple: true },
    },
    'sign',
  );
  const image = onePositional(positionals, 'IMAGE');
  if (!values.key) throw new UsageError('--key NAME is required');
  const request = { image, key: values.key, annotations: parseAnnotations(values.annotation ?? []) };
  return runSigningCall(values, 'Sign', request);
}

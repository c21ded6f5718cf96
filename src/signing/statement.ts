/** in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md). */

import { IN_TOTO_STATEMENT_V1 } from '../formats/in-toto';

export interface InTotoSubject {
  name?: string;
  digest: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface InTotoStatement {
  _type: string;
  subject: InTotoSubject[];
  predicateType: string;
  predicate: unknown;
}

/**
 * The statement about one image manifest. The subject is matched by digest only (the in-toto
 * rule); `name` is informative. Subject annotations are signed, which is why CI annotations go
 * there rather than only on the (unsigned) OCI manifest.
 */
export function imageStatement(args: {
  digest: string;
  predicateType: string;
  predicate: unknown;
  name?: string;
  annotations?: Record<string, string>;
}): InTotoStatement {
  const [algorithm, hex] = args.digest.split(':', 2) as [string, string];
  const subject: InTotoSubject = { digest: { [algorithm]: hex } };
  if (args.name) subject.name = args.name;
  if (args.annotations && Object.keys(args.annotations).length > 0) subject.annotations = { ...args.annotations };
  return { _type: IN_TOTO_STATEMENT_V1, subject: [subject], predicateType: args.predicateType, predicate: args.predicate };
}

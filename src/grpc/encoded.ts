import type * as grpc from '@grpc/grpc-js';

/**
 * A response already in its wire form. A handler whose result is immutable and shared (a reused
 * decision) encodes it once and answers with the bytes; the service definition made by
 * acceptingEncoded() sends them as they are (grpc-js copies them into its frame, so one buffer
 * serves every call).
 */
export class EncodedResponse {
  constructor(readonly bytes: Buffer) {}
}

/** `definition` with every method's response serializer passing EncodedResponse bytes through. */
export function acceptingEncoded(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    const serialize = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (value) => (value instanceof EncodedResponse ? value.bytes : serialize(value)) };
  }
  return out;
}

/** The encoder of `method`'s responses in `definition`. */
export function responseEncoder(definition: grpc.ServiceDefinition, method: string): (response: unknown) => EncodedResponse {
  const m = (definition as Record<string, grpc.MethodDefinition<unknown, unknown> | undefined>)[method];
  if (!m) throw new Error(`no method ${method} in the service definition`);
  return (response) => new EncodedResponse(m.responseSerialize(response));
}

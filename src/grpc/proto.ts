import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** proto/ sits two levels above both src/grpc and dist/grpc. */
export const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
export const PROTO_FILES = [
  'countersign/v1/signing.proto',
  'countersign/v1/verification.proto',
  'countersign/v1/keys.proto',
  'countersign/v1/policy.proto',
];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: { definition: protoLoader.PackageDefinition; grpcObject: grpc.GrpcObject } | undefined;

export function loadProtos(): { definition: protoLoader.PackageDefinition; grpcObject: grpc.GrpcObject } {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
    cached = { definition, grpcObject: grpc.loadPackageDefinition(definition) };
  }
  return cached;
}

export function serviceConstructor(
  name: 'SigningService' | 'VerificationService' | 'KeyService' | 'PolicyService',
): grpc.ServiceClientConstructor {
  const pkg = loadProtos().grpcObject as unknown as { countersign: { v1: Record<string, grpc.ServiceClientConstructor> } };
  const ctor = pkg.countersign.v1[name];
  if (!ctor) throw new Error(`service countersign.v1.${name} not found in ${PROTO_ROOT}`);
  return ctor;
}

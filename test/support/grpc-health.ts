/**
 * A grpc.health.v1 client for the end-to-end tests, built from grpc-health-check's own proto
 * (not from the service's code), so that a test asks the way a load balancer or kubelet would.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

/** grpc.health.v1.Health as the dynamic loader builds it (enums as their names). */
interface HealthClient extends grpc.Client {
  check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

interface HealthPackage {
  grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => HealthClient } } };
}

/** The status Check answers for `service` at `address` ('' is the whole server); rejects with the call's error. */
export async function healthStatus(address: string, service = ''): Promise<string> {
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as HealthPackage;
  const client = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) => {
      client.check({ service }, (err, response) => {
        if (err) reject(err);
        else resolve(response!.status);
      });
    });
  } finally {
    client.close();
  }
}

/** A real KeyService gRPC server over a real (temporary) key store, and a client for it. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { AuditLog } from '../../../src/audit';
import { keyClient, type UnaryClient } from '../../../src/cli/client';
import { keyHandlers } from '../../../src/grpc/key-handlers';
import { serviceConstructor } from '../../../src/grpc/proto';
import { InFlightTracker } from '../../../src/grpc/unary';
import { generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { createLogger } from '../../../src/logging/logger';
import { openDatabase, SqliteStore } from '../../../src/store';

export interface KeyServiceFixture {
  store: ManagedKeyStore;
  address: string;
  client: UnaryClient;
  stop(): Promise<void>;
}

export async function startKeyService(now?: () => Date): Promise<KeyServiceFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-key-service-'));
  const db = await SqliteStore.open(openDatabase(path.join(dir, 'countersign.db')), { changeCheckMs: 0 });
  const store = await ManagedKeyStore.open(db, generateKek(), await AuditLog.open(db), now ? { now } : {});
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const server = new grpc.Server();
  server.addService(
    serviceConstructor('KeyService').service,
    keyHandlers(store, { logger, tracker: new InFlightTracker() }, () => 'test'),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `127.0.0.1:${port}`;
  const client = keyClient(address);
  return {
    store,
    address,
    client,
    async stop() {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      store.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

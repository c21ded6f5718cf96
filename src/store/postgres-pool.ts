import pg from 'pg';

/**
 * A connection pool to the PostgreSQL at `url` with the project's settings, for the store and
 * the replicas' write lock alike. It connects lazily: the caller checks reachability (and
 * credentials) with a first query, so that a bad store.url fails at startup.
 */
export function createPostgresPool(
  url: string,
  options: { maxConnections?: number; connectTimeoutMs?: number; queryTimeoutMs?: number },
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'countersign',
    // A peer that vanished without a reset (a black-holed network) is noticed by TCP keepalive, and
    // no query waits forever: one that gets no answer in time (30 s) fails, and its connection is dropped
    // (pg-pool destroys a client released with an error). Store queries take milliseconds; a lock
    // wait (the write lock's) passes its own, longer bound.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: options.queryTimeoutMs ?? 30_000,
    // Idle connections do not keep the process alive (a failed startup exits, SIGTERM ends).
    allowExitOnIdle: true,
  });
  // An idle connection that dies (server restart) must not crash the process: the next
  // checkout reconnects, or fails with UNAVAILABLE.
  pool.on('error', () => undefined);
  return pool;
}

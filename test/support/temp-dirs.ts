/**
 * Temporary directories of one test file (jest gives each file its own module registry, so its
 * own list), removed together by `removeTempDirs` in the file's afterAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dirs: string[] = [];

/** A fresh temporary directory, removed by `removeTempDirs`. */
export function tempDir(prefix = 'countersign-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A database file path in a fresh temporary directory (the file itself is not created). */
export function tempDatabaseFile(prefix = 'countersign-db-'): string {
  return path.join(tempDir(prefix), 'countersign.db');
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

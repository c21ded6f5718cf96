/**
 * Reading an operator's file (a policy, a trust store) without trusting what the path is now: a
 * ConfigMap swap, a mistake or an attacker with write access to the volume can leave a symlink to
 * /dev/zero (endless), a FIFO (blocks an open or a read forever, and a sync read blocks the whole
 * process), a directory or a 1 GiB file in its place. Only a regular file is read, and never past
 * `maxBytes` + 1 (a file growing after its size was checked is caught too). The open does not
 * block on a FIFO (O_NONBLOCK; no effect on a regular file).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

export class BoundedFileError extends Error {
  constructor(
    message: string,
    /** ENOENT, EACCES… when the file could not be opened; NOT_REGULAR / TOO_LARGE otherwise. */
    readonly code: string,
  ) {
    super(message);
  }
}

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

function tooLarge(what: string, size: number | string, maxBytes: number): BoundedFileError {
  return new BoundedFileError(`${what} is ${size} bytes; the limit is ${maxBytes}`, 'TOO_LARGE');
}

function openError(what: string, err: unknown): BoundedFileError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new BoundedFileError(`cannot read ${what}: ${code}`, code);
}

const notRegular = (what: string) =>
  new BoundedFileError(`${what} is not a regular file (a directory, a device or a FIFO is never read)`, 'NOT_REGULAR');

export function readBoundedFileSync(path: string, maxBytes: number, what: string = path): Buffer {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    throw openError(what, err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular(what);
    if (st.size > maxBytes) throw tooLarge(what, st.size, maxBytes);
    const buf = Buffer.alloc(maxBytes + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw tooLarge(what, 'more than that', maxBytes);
    }
    return Buffer.from(buf.subarray(0, total));
  } catch (err) {
    if (err instanceof BoundedFileError) throw err;
    throw openError(what, err);
  } finally {
    closeSync(fd);
  }
}

export async function readBoundedFile(path: string, maxBytes: number, what: string = path): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    throw openError(what, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular(what);
    if (st.size > maxBytes) throw tooLarge(what, st.size, maxBytes);
    const buf = Buffer.alloc(maxBytes + 1);
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(what, 'more than that', maxBytes);
    }
    return Buffer.from(buf.subarray(0, total));
  } catch (err) {
    if (err instanceof BoundedFileError) throw err;
    throw openError(what, err);
  } finally {
    await handle.close();
  }
}

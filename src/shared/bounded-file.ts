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

/** What both readers check of the opened file before reading it. */
function checkOpened(st: { isFile(): boolean; size: number }, maxBytes: number, what: string): void {
  if (!st.isFile()) throw notRegular(what);
  if (st.size > maxBytes) throw tooLarge(what, st.size, maxBytes);
}

/** The bytes read so far, in a buffer one byte larger than the limit (a file that grew fills it). */
class BoundedBuffer {
  readonly buffer: Buffer;
  length = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
  ) {
    this.buffer = Buffer.alloc(maxBytes + 1);
  }
  get room(): number {
    return this.buffer.length - this.length;
  }
  /** Counts a read of `n` bytes: false at the end of the file, TOO_LARGE past the limit. */
  took(n: number): boolean {
    if (n === 0) return false;
    this.length += n;
    if (this.length > this.maxBytes) throw tooLarge(this.what, 'more than that', this.maxBytes);
    return true;
  }
  bytes(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

function failure(what: string, err: unknown): BoundedFileError {
  return err instanceof BoundedFileError ? err : openError(what, err);
}

export function readBoundedFileSync(path: string, maxBytes: number, what: string = path): Buffer {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    throw openError(what, err);
  }
  try {
    checkOpened(fstatSync(fd), maxBytes, what);
    const into = new BoundedBuffer(maxBytes, what);
    while (into.took(readSync(fd, into.buffer, into.length, into.room, null)));
    return into.bytes();
  } catch (err) {
    throw failure(what, err);
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
    checkOpened(await handle.stat(), maxBytes, what);
    const into = new BoundedBuffer(maxBytes, what);
    while (into.took((await handle.read(into.buffer, into.length, into.room, null)).bytesRead));
    return into.bytes();
  } catch (err) {
    throw failure(what, err);
  } finally {
    await handle.close();
  }
}

import { CountersignError } from '../shared/errors';
import { quoteUntrusted } from '../shared/untrusted-text';

/** Key names appear in CLI output, audit entries and legacy file names, so they are restricted to a portable, unsurprising set. */
const KEY_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function validateKeyName(name: string): void {
  if (!KEY_NAME.test(name)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `invalid key name ${quoteUntrusted(name, 80)}: use 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit`,
    );
  }
}

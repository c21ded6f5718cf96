/**
 * What the CLI prints, through one door. Much of it is text the server sent (deny reasons, key
 * names, a vendor certificate's subject, error details), and a server — or the registry content
 * it relays — may be hostile: an escape sequence or a bidi override printed raw can rewrite the
 * terminal or make a DENIED read as something else. Fields are quoted where they are formatted
 * (displayUntrusted, so no newline can forge a row); this escapes whatever else is unsafe.
 */
import { escapeForTerminal } from '../shared/untrusted-text';

export function printOut(text: string): void {
  process.stdout.write(escapeForTerminal(text));
}

export function printErr(text: string): void {
  process.stderr.write(escapeForTerminal(text));
}

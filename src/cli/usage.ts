/**
 * The `countersign` usage text, one entry per command, so that `countersign <command> --help`
 * (and `countersign help <command>`) prints that command's usage and the bare `countersign` prints
 * all of them.
 */

const CLIENT = '[--server HOST:PORT] [--token TOKEN | --token-file FILE] [--timeout SECONDS] [--json]';
const LOCAL = '[--data-dir DIR] [--config FILE]';

/** Topics in display order; a group (`keys`, `token`, `audit`) is the list of its subcommands. */
const COMMANDS: Array<[topic: string, usage: string]> = [
  [
    'serve',
    `serve   [--config FILE] [--listen HOST:PORT] [--keys-dir DIR] [--data-dir DIR] [--policy FILE]
          [--admission-listen HOST:PORT] [--metrics-listen HOST:PORT] [--gate-listen HOST:PORT --gate-upstream URL] [--log-level LEVEL]
          [--workers N]
          runs the gRPC service (and the admission webhook / the registry gate when their listen address is given);
          --workers (or $COUNTERSIGN_WORKERS): processes sharing the sockets and the data directory, default the cores available, 1: one process`,
  ],
  [
    'gate',
    `gate    --listen HOST:PORT --upstream URL [--server HOST:PORT] [--token TOKEN | --token-file FILE] [--registry-name HOST]
          [--tls-cert FILE --tls-key FILE] [--upstream-ca FILE] [--allow-plain-http] [--config FILE] [--log-level LEVEL]
          an OCI registry proxy whose pulls and tag pushes Countersign decides (Verify over gRPC, as a verifier:
          COUNTERSIGN_TOKEN or COUNTERSIGN_TLS_CA / _CLIENT_CERT / _CLIENT_KEY)`,
  ],
  ['sign', `sign    IMAGE --key NAME [-a KEY=VALUE]... ${CLIENT}`],
  [
    'attest',
    `attest  IMAGE --key NAME --type spdx|cyclonedx|vuln|URI --predicate FILE [--scan-time RFC3339]
          [-a KEY=VALUE]... ${CLIENT}`,
  ],
  [
    'verify',
    `verify  IMAGE [--action deploy|push|pull] [--namespace NS] [--identity ID] [--label KEY=VALUE]...
          ${CLIENT}
          exit status: 0 allowed, 1 denied (reasons printed), 2 error`,
  ],
  ['keys create', 'keys create NAME [--owner TEAM] [--scope PATTERN]... [--valid-until RFC3339]'],
  [
    'keys import',
    `keys import NAME (--public-key FILE | --ca-bundle FILE | --cosign-key FILE [--password-file FILE]) [--owner TEAM]
          [--scope PATTERN]... [--valid-from RFC3339] [--valid-until RFC3339]
          --public-key: one PEM PUBLIC KEY (e.g. cosign.pub) or CERTIFICATE (its key; its validity bounds the key's):
          ECDSA P-256/P-384/P-521, Ed25519 or RSA >= 2048
          --ca-bundle: PEM CA certificates; signatures whose certificate chains to one of them count as NAME's
          (the cosign key password is read from COSIGN_PASSWORD unless --password-file is given)`,
  ],
  ['keys list', 'keys list [--active]'],
  ['keys show', 'keys show NAME|ID'],
  [
    'keys rotate',
    `keys rotate NAME|ID [--overlap 7d|12h|30m|SECONDS] [--reason TEXT]
          the old version verifies for the overlap (default 7d); --overlap 0: it stops at once`,
  ],
  ['keys revoke', 'keys revoke NAME|ID --reason TEXT'],
  [
    'policy get',
    `policy get [--json]
          prints the image policy in force (its revision, source and who set it, as YAML comments, then the text)`,
  ],
  [
    'policy set',
    `policy set FILE [--expected-revision REVISION]
          validates and stores a new image policy, in force on every replica sharing the store (refused when the
          service has a policy file); --expected-revision: only if the policy in force is still that revision`,
  ],
  [
    'token create',
    `token create NAME --role signer|verifier|key-admin|policy-admin [--role …] [--scope PATTERN]... [--expires RFC3339]
          ${LOCAL} [--json]; the token is printed once`,
  ],
  ['token list', `token list ${LOCAL} [--json]`],
  ['token revoke', `token revoke NAME [--reason TEXT] ${LOCAL}`],
  [
    'verify-bundle',
    `verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL | --key FILE)
          [--trusted-root FILE]... ARTIFACT_FILE|sha256:<hex>
          verifies a Sigstore bundle offline (sigstore-conformance client); exit 0 verified, 1 not`,
  ],
  [
    'kek rotate',
    `kek rotate --old-kek-file FILE --new-kek-file FILE ${LOCAL}
          seals every private key again under the new key-encryption key (stop every replica first, start them with the new one)`,
  ],
  ['audit list', `audit list ${LOCAL} [--limit N] [--actor WHO] [--action WHAT] [--target NAME] [--json]`],
  [
    'audit verify',
    `audit verify ${LOCAL} [--expect-head SEQ:HASH] [--json]
          exit status: 0 the chain is intact, 1 it is broken (the first broken entry is printed)`,
  ],
];

const GROUP_NOTES: Record<string, string> = {
  keys: `          every keys command also takes ${CLIENT}`,
  token: `          bearer tokens for callers, kept hashed in the service's store (data directory, or store.url); clients send one
          with --token, --token-file or COUNTERSIGN_TOKEN(_FILE)`,
  audit: "          read the service's audit trail from its store (data directory, or store.url / COUNTERSIGN_STORE_URL)",
  policy: `          every policy command also takes ${CLIENT}; get needs role verifier or policy-admin, set needs policy-admin`,
  kek: '          the key-encryption key of the store (data directory, or store.url / COUNTERSIGN_STORE_URL)',
};

/** Commands that talk to a running server (the others work on local files). */
const CLIENT_GROUPS = new Set(['sign', 'attest', 'verify', 'keys', 'policy']);

const FOOTER = 'The server address defaults to $COUNTERSIGN_SERVER or 127.0.0.1:50051.';

/** Every command's usage: what `countersign` alone, `help` and a usage error print. */
export const USAGE = `usage: countersign <command> [options]

commands:
${[...new Set(COMMANDS.map(([t]) => t.split(' ')[0]!))].map((group) => section(group)).join('\n')}

Add --help to any command for its usage alone. ${FOOTER}`;

/** True for a topic `usageOf` knows: a command (`verify`), a group (`keys`) or a subcommand (`keys rotate`). */
export function isTopic(topic: string): boolean {
  return COMMANDS.some(([t]) => t === topic || t.startsWith(`${topic} `));
}

/** The usage of one command, group or subcommand (`verify`, `keys`, `keys rotate`). */
export function usageOf(topic: string): string {
  if (!isTopic(topic)) return USAGE;
  const group = topic.split(' ')[0]!;
  const isGroup = !COMMANDS.some(([t]) => t === topic);
  // One command on the usage line (without the list's column alignment); a group as a list.
  const text = isGroup
    ? `${group} <command> [options]\n\n${section(topic)}`
    : section(topic)
        .trimStart()
        .replace(/^(\S+) {2,}/, '$1 ');
  return `usage: countersign ${text}${CLIENT_GROUPS.has(group) ? `\n\n${FOOTER}` : ''}`;
}

function section(topic: string): string {
  const entries = COMMANDS.filter(([t]) => t === topic || t.startsWith(`${topic} `)).map(([, u]) => `  ${u}`);
  const group = topic.split(' ')[0]!;
  const note = GROUP_NOTES[group];
  return [...entries, ...(note ? [note] : [])].join('\n');
}

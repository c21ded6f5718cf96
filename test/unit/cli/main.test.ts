/**
 * The CLI's argument handling, in process: every command's --help, and what `keys rotate` sends
 * (against a real KeyService server, so the bytes on the wire are what is checked).
 */
import { runCli } from './run-cli';
import { DEFAULT_ROTATION_OVERLAP_SECONDS } from '../../../src/keys/managed-key-store';
import { startKeyService, type KeyServiceFixture } from '../grpc/key-service-fixture';

const run = runCli;

/** Every command and subcommand, with an option only it takes (so the usage shown is its own). */
const COMMANDS: Array<[topic: string, ownOption: string]> = [
  ['serve', '--admission-listen'],
  ['sign', '--key NAME [-a KEY=VALUE]'],
  ['attest', '--predicate FILE'],
  ['verify', '--action deploy|push|pull'],
  ['keys create', '--valid-until'],
  ['keys import', '--cosign-key FILE'],
  ['keys list', '--active'],
  ['keys show', 'NAME|ID'],
  ['keys rotate', '--overlap'],
  ['keys revoke', '--reason TEXT'],
  ['policy get', 'as YAML comments'],
  ['policy set', '--expected-revision'],
  ['token create', '--role signer'],
  ['token list', 'token list'],
  ['token revoke', 'token revoke NAME'],
  ['audit list', '--limit N'],
  ['audit verify', '--expect-head'],
];

describe('--help', () => {
  test.each(COMMANDS)('countersign %s --help prints its usage and exits 0', async (topic, ownOption) => {
    for (const flag of ['--help', '-h']) {
      const r = await run([...topic.split(' '), flag]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^usage: countersign ${topic.replace(' ', ' ')}\\b`));
      expect(r.stdout).toContain(ownOption);
      // Its own usage, not the whole list.
      for (const [other] of COMMANDS) if (!other.startsWith(topic.split(' ')[0]!)) expect(r.stdout).not.toContain(`  ${other} `);
    }
  });

  test.each(['keys', 'token', 'audit', 'policy'])('countersign %s --help lists its subcommands', async (group) => {
    const r = await run([group, '--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const subs = COMMANDS.filter(([t]) => t.startsWith(`${group} `));
    for (const [t] of subs) expect(r.stdout).toContain(t);
    expect(r.stdout).not.toContain('verify  IMAGE');
  });

  test('help wins over other arguments and over errors in them', async () => {
    for (const args of [
      ['keys', 'rotate', 'some-key', '--overlap', '0', '--help'],
      ['verify', '--no-such-option', '--help'],
      ['sign', '--help', 'too', 'many', 'images'],
      ['token', 'create', '-h'],
      ['policy', 'set', '--no-such-option', '--help'],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: countersign /);
    }
  });

  test('countersign help COMMAND is COMMAND --help; help alone lists everything', async () => {
    expect((await run(['help', 'keys', 'rotate'])).stdout).toBe((await run(['keys', 'rotate', '--help'])).stdout);
    const all = await run(['--help']);
    expect(all.code).toBe(0);
    for (const [t] of COMMANDS) expect(all.stdout).toContain(`  ${t} `);
    const unknown = await run(['help', 'launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no command "launch"/);
  });

  test('usage errors still exit 2 with the usage of the command', async () => {
    const r = await run(['verify', '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--no-such-option'/);
    expect(r.stderr).toContain('usage: countersign verify');
    expect((await run([])).code).toBe(2);
    expect((await run(['launch'])).code).toBe(2);
  });
});

describe('keys rotate --overlap', () => {
  let fixture: KeyServiceFixture;
  beforeAll(async () => {
    fixture = await startKeyService();
  });
  afterAll(() => fixture.stop());

  test('--overlap 0 sends an explicit zero: the old version stops verifying at once, and the CLI says so', async () => {
    await fixture.store.createKey({ name: 'zero' }, 'test');
    const r = await run(['keys', 'rotate', 'zero', '--overlap', '0', '--server', fixture.address]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/version 1 stopped verifying at once \(no overlap\)/);
    const old = (await fixture.store.listKeys()).find((k) => k.name === 'zero' && k.version === 1)!;
    expect(old.validUntil!.getTime()).toBe(old.stateChangedAt!.getTime());
  });

  test('no --overlap sends nothing: the default overlap applies', async () => {
    await fixture.store.createKey({ name: 'default' }, 'test');
    const r = await run(['keys', 'rotate', 'default', '--server', fixture.address]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/version 1 verifies until /);
    const old = (await fixture.store.listKeys()).find((k) => k.name === 'default' && k.version === 1)!;
    expect(old.validUntil!.getTime() - old.stateChangedAt!.getTime()).toBe(DEFAULT_ROTATION_OVERLAP_SECONDS * 1000);
  });

  test('a malformed duration is a usage error and rotates nothing', async () => {
    await fixture.store.createKey({ name: 'kept' }, 'test');
    for (const overlap of ['-5', '1.5h', '', 'soon']) {
      const r = await run(['keys', 'rotate', 'kept', `--overlap=${overlap}`, '--server', fixture.address]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/invalid duration/);
    }
    expect((await fixture.store.getKey('kept')).state).toBe('active');
  });
});

// A bench child process (server-child.mjs, gate-child.mjs): forked with an IPC channel, it sends
// one message when it serves; `ask` sends it a message and waits for the reply, `stop` asks it to
// stop and waits until it has exited.
import { fork } from 'node:child_process';

/** `what` names the child in the error when it exits before it is ready. */
export async function forkChild(script, args, { execArgv = [], env, what = `bench child ${args[0]}` } = {}) {
  const p = fork(script, args, { execArgv, ...(env ? { env } : {}), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ready = await new Promise((resolve, reject) => {
    p.once('message', resolve);
    p.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
  return {
    ...ready,
    pid: p.pid,
    ask: (m) =>
      new Promise((resolve) => {
        p.once('message', resolve);
        p.send(m);
      }),
    stop: () =>
      new Promise((r) => {
        p.removeAllListeners('exit');
        p.once('exit', r);
        p.send({ cmd: 'stop' });
      }),
  };
}

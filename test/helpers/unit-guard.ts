/**
 * Loaded with `--import` by the unit tier (scripts/test-unit.ts): inside a test file's
 * process it makes starting a child process or opening a socket throw, naming what was
 * attempted. The unit tier's file list comes from a static look at the imports; this guard
 * turns a wrong guess (a peer reached through an indirect import) into a named failure
 * instead of a slow or flaky "unit" test.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

// node --test runs each file in a child with NODE_TEST_CONTEXT set; the runner itself
// must stay free to spawn those children.
if (process.env.NODE_TEST_CONTEXT) {
  const refuse = (what: string): never => {
    throw new Error(
      `unit tier: ${what} is not allowed here; a test that needs a peer, a process or a socket ` +
        'belongs to the full suite (add its pattern to scripts/test-unit.ts)',
    );
  };
  const cp = childProcess as unknown as Record<string, unknown>;
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    cp[name] = () => refuse(`child_process.${name}()`);
  }
  net.Server.prototype.listen = function listen(): never {
    return refuse('listening on a socket');
  };
  net.Socket.prototype.connect = function connect(): never {
    return refuse('connecting a socket');
  };
  syncBuiltinESMExports();
}

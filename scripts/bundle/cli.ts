/**
 * Bundle tool (run through scripts/bundle.sh):
 *   build --target linux-x64|linux-arm64 --version V --key PRIVATE.pem --out DIR
 *         [--min-previous V] [--node-abi N] [--nodedir DIR] [--cache DIR]
 *   keygen DIR      writes an Ed25519 key pair (PEM) and prints its key id
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BundleTarget } from '../../src/ota/manifest.js';
import { assertVersion, buildBundle, DEFAULT_NODE_ABI, loadPrivateKey, TARGETS } from './build.js';
import { writeKeyPair } from './keygen.js';

const USAGE = `usage: scripts/bundle.sh --target linux-x64|linux-arm64 --version V --key PRIVATE.pem --out DIR
                          [--min-previous V] [--node-abi N] [--nodedir DIR] [--cache DIR]
       scripts/bundle.sh keygen DIR`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'keygen') {
    if (rest.length !== 1) return fail(USAGE);
    const { keyId, privateFile, publicFile } = writeKeyPair(resolve(rest[0]!));
    process.stdout.write(
      `keyId ${keyId}\nprivate ${privateFile} (keep offline)\npublic ${publicFile} (pin on devices)\n`,
    );
    return 0;
  }
  if (command !== 'build') return fail(USAGE);
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      target: { type: 'string' },
      version: { type: 'string' },
      key: { type: 'string' },
      out: { type: 'string' },
      'min-previous': { type: 'string', default: '0.0.0' },
      'node-abi': { type: 'string', default: DEFAULT_NODE_ABI },
      nodedir: { type: 'string' },
      cache: { type: 'string' },
    },
  });
  const { target, version, key, out } = values;
  if (!target || !version || !key || !out) return fail(USAGE);
  if (!TARGETS.includes(target as BundleTarget)) return fail(`--target must be one of ${TARGETS.join(', ')}`);
  assertVersion('--version', version);
  const projectRoot = process.cwd();
  const started = Date.now();
  const result = await buildBundle({
    projectRoot,
    target: target as BundleTarget,
    version,
    minPreviousVersion: values['min-previous'],
    privateKey: loadPrivateKey(readFileSync(key)),
    outDir: resolve(out),
    createdAt: sourceDate(),
    nodeAbi: values['node-abi'],
    nodedir: () => values.nodedir ?? npmNodedir(),
    cacheDir: resolve(values.cache ?? join(projectRoot, '.cache/native')),
    log: (line) => process.stderr.write(`bundle: ${line}\n`),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const mb = (result.bytes / 1024 / 1024).toFixed(1);
  process.stdout.write(`${result.file}\n`);
  process.stderr.write(
    `bundle: ${result.manifest.files.length} files, ${mb} MB, keyId ${result.manifest.keyId}, ${seconds} s\n`,
  );
  return 0;
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org) if set, else now. */
function sourceDate(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch === '') return new Date(Math.floor(Date.now() / 1000) * 1000);
  if (!/^\d+$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH "${epoch}" is not a number of seconds`);
  return new Date(Number(epoch) * 1000);
}

/** The nodedir npm itself builds addons against (~/.npmrc `nodedir=`). */
function npmNodedir(): string {
  const fromEnv = process.env.npm_config_nodedir;
  if (fromEnv) return fromEnv;
  const value = execFileSync('npm', ['config', 'get', 'nodedir'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
  if (value === '' || value === 'undefined' || value === 'null')
    throw new Error(
      'no nodedir configured: pass --nodedir DIR (a directory with include/node/node_version.h)',
    );
  return value;
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`bundle: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

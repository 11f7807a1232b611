/**
 * Fixture cases in src/drivers/modbus/dtu/testcases/<case>/: config.yaml (the `dtu`
 * section, Modbus `devices` on its link, and `peer`: the registration and holding
 * registers of the UDP DTU the test plays) and expected.json:
 *   steps  — in order: `{dtu: {...}}` how the DTU sends each answer from now on (`lose`,
 *            `duplicateAfterMs`, `split` into N datagrams, `losePiece` index, `answerDelayMs`);
 *            `{poll: device, expect: values | code}`; `{foreign: spec}` a datagram from
 *            another address; `{rebind: true}` the DTU sends from a new port (registration
 *            repeated until the hub follows); `{rebind: {with: 'heartbeat', followed}}` it
 *            repeats only `peer.heartbeat` there, and the hub does (or does not) follow;
 *   status — fields of the link's status after the steps; server — of serverStatus().udp;
 *   foreignReceived — datagrams the foreign address received.
 * The DTU is a dgram socket answering from its register map: exact bytes, no serial timing.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import type { DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import { parseBytes } from '../../src/tools/dtu-sim/bytes.js';
import { waitFor } from '../helpers/wait.js';
import { holdingResponse, withCrc } from '../dtu-sim/agent.js';
import { byTag, startHub } from './helpers.js';

const root = join(process.cwd(), 'src/drivers/modbus/dtu/testcases');
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

interface AnswerMode {
  lose?: boolean;
  duplicateAfterMs?: number;
  split?: number;
  losePiece?: number;
  /** The slave's answer time (default at once). */
  answerDelayMs?: number;
}

type Step =
  | { dtu: AnswerMode }
  | { poll: string; expect: Record<string, unknown> | string }
  | { foreign: string }
  | { rebind: true | { with: 'registration' | 'heartbeat'; followed: boolean } };

interface Expected {
  steps: Step[];
  status?: Record<string, number>;
  server?: Record<string, number>;
  foreignReceived?: number;
}

interface CaseConfig {
  dtu: unknown;
  devices: unknown[];
  peer: { registration: string; heartbeat?: string; holding: Record<string, number[]> };
}

async function udpSocket(t: TestContext): Promise<Socket> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let open = true;
  sock.once('close', () => (open = false));
  t.after(() => (open ? new Promise<void>((r) => sock.close(() => r())) : undefined));
  return sock;
}

/** The UDP DTU of a case: answers FC3 reads from its registers as the current mode says. */
class PlayedDtu {
  mode: AnswerMode = {};
  sock!: Socket;
  constructor(
    private readonly t: TestContext,
    private readonly peer: CaseConfig['peer'],
    private readonly hubPort: number,
  ) {}

  async open(register = true): Promise<void> {
    this.sock = await udpSocket(this.t);
    this.sock.on('message', (m) => this.answer(m));
    if (register) this.send(Buffer.from(this.peer.registration, 'latin1'));
  }

  send(data: Buffer): void {
    try {
      this.sock.send(data, this.hubPort, '127.0.0.1');
    } catch {
      // a delayed answer or copy after the case ended (its socket closed): dropped
    }
  }

  private answer(req: Buffer): void {
    const unit = req[0]!;
    const address = req.readUInt16BE(2);
    const count = req.readUInt16BE(4);
    const regs = this.peer.holding[String(unit)]?.slice(address, address + count);
    const answer =
      req[1] === 3 && regs?.length === count
        ? holdingResponse(unit, regs)
        : withCrc([unit, req[1]! | 0x80, 2]);
    const m = this.mode;
    if (m.lose) return;
    if (m.answerDelayMs) setTimeout(() => this.sendAnswer(answer, m), m.answerDelayMs);
    else this.sendAnswer(answer, m);
  }

  private sendAnswer(answer: Buffer, m: AnswerMode): void {
    const n = Math.max(1, m.split ?? 1);
    const size = Math.ceil(answer.length / n);
    for (let i = 0; i < n; i++) {
      if (i === m.losePiece) continue;
      const piece = answer.subarray(i * size, (i + 1) * size);
      this.send(piece);
      if (m.duplicateAfterMs !== undefined) setTimeout(() => this.send(piece), m.duplicateAfterMs);
    }
  }
}

for (const name of cases) {
  test(`fixture: ${name}`, async (t) => {
    const cfg = parseYaml(readFileSync(join(root, name, 'config.yaml'), 'utf8')) as CaseConfig;
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as Expected;
    const { hub, fam } = await startHub(t, cfg.dtu as DtuConfigInput);
    const devices = new Map<string, { poll: () => Promise<Record<string, unknown>> }>();
    let link = '';
    for (const raw of cfg.devices) {
      const c = modbusDeviceSchema.parse(raw);
      const d = fam.create(c);
      d.init();
      await d.start();
      const tags = c.tags.map((tag) => tag.name);
      devices.set(c.name, { poll: async () => byTag(await d.poll(tags)) });
      link = (c.connection as { dtu: string }).dtu;
    }
    const status = (): Record<string, unknown> => hub.status()[link] as unknown as Record<string, unknown>;
    const dtu = new PlayedDtu(t, cfg.peer, hub.udpAddress()!.port);
    await dtu.open();
    await waitFor('registered', () => status().up === true, 3000);
    const foreign = await udpSocket(t);
    let foreignReceived = 0;
    foreign.on('message', () => foreignReceived++);
    const serverBefore = { ...hub.serverStatus().udp! } as unknown as Record<string, number>;

    for (const [i, step] of expected.steps.entries()) {
      if ('dtu' in step) dtu.mode = step.dtu;
      else if ('foreign' in step) {
        const before = hub.serverStatus().udp!.datagramsIn;
        foreign.send(parseBytes(step.foreign), hub.udpAddress()!.port, '127.0.0.1');
        await waitFor('foreign datagram read', () => hub.serverStatus().udp!.datagramsIn > before, 3000, 5);
      } else if ('rebind' in step) {
        const how = step.rebind === true ? { with: 'registration', followed: true } : step.rebind;
        const id = Buffer.from(
          how.with === 'registration' ? cfg.peer.registration : cfg.peer.heartbeat!,
          'latin1',
        );
        const old = dtu.sock;
        await dtu.open(false);
        old.close();
        const port = dtu.sock.address().port;
        let sent = 0;
        const moved = await waitFor(
          'link moved to the new port, or 20 tries',
          () => {
            if (status().remoteAddress === `127.0.0.1:${port}`) return 'moved';
            if (sent >= 20) return 'stayed';
            dtu.send(id); // as DTUs repeat it
            sent++;
            return false;
          },
          3000,
          20,
        );
        assert.equal(moved, how.followed ? 'moved' : 'stayed', `step ${i}: rebind`);
      } else {
        const device = devices.get(step.poll);
        assert.ok(device, `step ${i}: unknown device ${step.poll}`);
        const got = await device.poll();
        const want =
          typeof step.expect === 'string'
            ? Object.fromEntries(Object.keys(got).map((k) => [k, step.expect]))
            : step.expect;
        assert.deepEqual(got, want, `step ${i}: poll ${step.poll}`);
      }
    }
    // A copy sent after the last answer may still be on its way: counters get a moment to settle.
    for (const [field, want] of Object.entries(expected.status ?? {})) {
      await waitFor(`status.${field}`, () => status()[field] === want, 1000, 5).catch(() => undefined);
      assert.equal(status()[field], want, `status.${field}`);
    }
    const added = (field: string): number =>
      (hub.serverStatus().udp as unknown as Record<string, number>)[field]! - serverBefore[field]!;
    for (const [field, want] of Object.entries(expected.server ?? {})) {
      await waitFor(`server.${field}`, () => added(field) === want, 1000, 5).catch(() => undefined);
      assert.equal(added(field), want, `serverStatus().udp.${field} (added by the steps)`);
    }
    if (expected.foreignReceived !== undefined) assert.equal(foreignReceived, expected.foreignReceived);
  });
}

test('udp fixture cases exist', () => {
  assert.ok(cases.length >= 6, `found ${cases.length} cases in ${root}`);
});

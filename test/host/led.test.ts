import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { ledSchema } from '../../src/host/config.js';
import { createStatusLed, openLedPort } from '../../src/host/led/create.js';
import { listGpioChips, resolveGpioNumber } from '../../src/host/led/gpio-base.js';
import { MemoryLed } from '../../src/host/led/led-port.js';
import { OnoffLed, type GpioClass, type GpioPin } from '../../src/host/led/onoff-led.js';
import { LED_PATTERNS, patternFor, type LedCondition } from '../../src/host/led/patterns.js';
import { StatusLed } from '../../src/host/led/status-led.js';
import { captureLogger } from '../helpers/logger.js';
import { tempDir } from '../helpers/tmp.js';

const cases = join(process.cwd(), 'src/host/led/testcases');
const caseNames = readdirSync(cases, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

function setup() {
  const clock = new ManualClock(0);
  const port = new MemoryLed(clock);
  const led = new StatusLed(port, { clock, logger: silentLogger });
  return { clock, port, led };
}

/** on/off runs between `from` and `to`, as [on, ms]. */
function runs(port: MemoryLed, from: number, to: number): Array<[boolean, number]> {
  const changes = port.changes.filter((c) => c.at >= from && c.at < to);
  const all: Array<[boolean, number]> = changes.slice(0, -1).map((c, i) => [c.on, changes[i + 1]!.at - c.at]);
  // A switch at the very instant of another (pattern change) is not a visible run.
  return all.filter(([, ms]) => ms > 0);
}

test('each pattern plays its on/off rhythm on the injected clock', async () => {
  for (const condition of Object.keys(LED_PATTERNS) as LedCondition[]) {
    const { clock, port, led } = setup();
    led.set(condition, true);
    const steps = LED_PATTERNS[condition].steps;
    const period = steps.reduce((a, b) => a + b, 0);
    await clock.advance(period * 2 + 1);
    const seen = runs(port, 0, period * 2 + 1).slice(0, steps.length);
    assert.deepEqual(
      seen,
      steps.map((ms, i) => [i % 2 === 0, ms]),
      condition,
    );
    await led.close();
    assert.equal(clock.pendingCount, 0, `${condition}: no timer left after close`);
  }
});

test('patterns are distinct (a technician can tell them apart)', () => {
  const keys = Object.values(LED_PATTERNS).map((p) => p.steps.join(','));
  assert.equal(new Set(keys).size, keys.length);
});

test('priority: fatal > ota > booting > store-and-forward > device-fault > online; none = off', () => {
  const s = (...c: LedCondition[]) => patternFor(new Set(c)).name;
  assert.equal(s('online', 'device-fault', 'store-and-forward', 'ota', 'fatal'), 'fatal');
  assert.equal(s('online', 'device-fault', 'store-and-forward', 'ota'), 'ota');
  assert.equal(s('online', 'store-and-forward', 'device-fault'), 'store-and-forward');
  assert.equal(s('online', 'device-fault'), 'device-fault');
  assert.equal(s('online'), 'online');
  assert.equal(s(), 'off');
});

test('a higher-priority condition takes over at once and the lower one comes back when it clears', async () => {
  const { clock, port, led } = setup();
  led.set('online', true);
  await clock.advance(500);
  led.set('ota', true);
  assert.equal(led.showing(), 'ota');
  await clock.advance(400);
  const ota = runs(port, 500, 900);
  assert.ok(ota.length >= 3 && ota.every(([, ms]) => ms === 80), JSON.stringify(ota));
  led.set('ota', false);
  assert.equal(led.showing(), 'online');
  const at = clock.now();
  await clock.advance(2_000);
  assert.deepEqual(runs(port, at, at + 2_000)[0], [true, 1900]);
  await led.close();
});

test('LED writes never block and a failing LED warns once', async () => {
  const clock = new ManualClock(0);
  const port = new MemoryLed(clock);
  port.failing = true;
  const log = captureLogger();
  const led = new StatusLed(port, { clock, logger: log });
  led.set('ota', true);
  await clock.advance(2_000);
  await led.idle();
  assert.equal(log.lines.filter((l) => l.obj.code === 'EDGE_ERR_LED_WRITE').length, 1);
  port.failing = false;
  await clock.advance(200);
  assert.ok(port.changes.length > 0, 'writes resume when the LED comes back');
  await led.close();
});

test('fatal on close is handed to the kernel timer trigger (keeps blinking after exit); otherwise the LED is closed', async () => {
  const a = setup();
  a.led.set('fatal', true);
  await a.led.close();
  assert.deepEqual(a.port.kernelBlink, { onMs: 150, offMs: 150 });
  const b = setup();
  b.led.set('online', true);
  await b.led.close();
  assert.equal(b.port.closed, true);
  b.led.set('ota', true);
  assert.equal(b.clock.pendingCount, 0, 'set after close is ignored');
});

for (const name of caseNames) {
  test(`gpiochip base detection: ${name}`, async () => {
    const expected = JSON.parse(readFileSync(join(cases, name, 'expected.json'), 'utf8')) as {
      line: number;
      number?: number;
      chip?: string;
      label?: string;
      error?: string;
    };
    const labels = ledSchema.parse({ backend: 'gpio', line: 0 });
    assert.equal(labels.backend, 'gpio');
    const chipLabels = labels.backend === 'gpio' ? labels.chipLabels : [];
    const chips = await listGpioChips(join(cases, name));
    if (expected.error) {
      assert.throws(
        () => resolveGpioNumber(chips, chipLabels, expected.line),
        (e: Error & { code?: string }) =>
          e.code === expected.error && /found: gpiochip0=gpio-mockup-A/.test(e.message),
      );
      return;
    }
    const got = resolveGpioNumber(chips, chipLabels, expected.line);
    assert.equal(got.number, expected.number);
    assert.equal(got.chip.name, expected.chip);
    assert.equal(got.chip.label, expected.label);
  });
}

test('gpio line outside the chip is refused naming led.line', async () => {
  const chips = await listGpioChips(join(cases, 'pi5-kernel-6.6'));
  assert.throws(
    () => resolveGpioNumber(chips, ['pinctrl-rp1'], 54),
    /led.line 54 is outside gpiochip571 \(pinctrl-rp1, 54 lines\)/,
  );
});

test('onoff backend exports base + line with an injected Gpio class, and unexports on close', async () => {
  const made: Array<{
    gpio: number;
    options?: { activeLow?: boolean };
    writes: number[];
    unexported: boolean;
  }> = [];
  const FakeGpio = class implements GpioPin {
    static accessible = true;
    private readonly rec;
    constructor(gpio: number, _direction: 'out', _edge?: 'none', options?: { activeLow?: boolean }) {
      this.rec = { gpio, options, writes: [] as number[], unexported: false };
      made.push(this.rec);
    }
    async write(value: 0 | 1): Promise<void> {
      this.rec.writes.push(value);
    }
    unexport(): void {
      this.rec.unexported = true;
    }
  } satisfies GpioClass;
  const led = await OnoffLed.open(
    { sysfsRoot: join(cases, 'pi5-kernel-6.6'), line: 17, chipLabels: ['pinctrl-rp1'], activeLow: true },
    FakeGpio,
  );
  assert.equal(led.number, 588);
  await led.set(true);
  await led.set(false);
  await led.close();
  await led.close();
  assert.deepEqual(made, [{ gpio: 588, options: { activeLow: true }, writes: [1, 0, 0], unexported: true }]);
  await assert.rejects(
    OnoffLed.open({ sysfsRoot: '/', line: 17, chipLabels: ['x'], activeLow: false }, undefined),
    /onoff is not installed/,
  );
  const Inaccessible = class extends FakeGpio {
    static override accessible = false;
  };
  await assert.rejects(
    OnoffLed.open({ sysfsRoot: '/', line: 17, chipLabels: ['x'], activeLow: false }, Inaccessible),
    (e: Error & { code?: string }) => e.code === 'EDGE_ERR_LED_UNAVAILABLE',
  );
});

test('sysfs-led backend: trigger none, brightness max/0, kernel timer on fatal (fixture tree copy)', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.remove());
  cpSync(join(cases, 'pi4-kernel-6.6'), tmp.path, { recursive: true });
  const dir = join(tmp.path, 'sys/class/leds/ACT');
  const clock = new ManualClock(0);
  const led = await createStatusLed(
    ledSchema.parse({ backend: 'sysfs-led', name: 'ACT', sysfsRoot: tmp.path }),
    { clock, logger: silentLogger },
  );
  assert.equal(readFileSync(join(dir, 'trigger'), 'utf8'), 'none');
  led.set('online', true);
  await led.idle();
  assert.equal(readFileSync(join(dir, 'brightness'), 'utf8'), '255');
  await clock.advance(1_900);
  await led.idle();
  assert.equal(readFileSync(join(dir, 'brightness'), 'utf8'), '0');
  led.set('fatal', true);
  await led.close();
  assert.equal(readFileSync(join(dir, 'trigger'), 'utf8'), 'timer');
  assert.equal(readFileSync(join(dir, 'delay_on'), 'utf8'), '150');
});

test('a missing LED is a warning, not a failure', async () => {
  const log = captureLogger();
  const port = await openLedPort(
    ledSchema.parse({ backend: 'sysfs-led', name: 'nope', sysfsRoot: join(cases, 'pi4-kernel-6.6') }),
    { clock: new ManualClock(), logger: log },
  );
  assert.equal(port, undefined);
  const warn = log.lines.find((l) => l.obj.code === 'EDGE_ERR_LED_UNAVAILABLE');
  assert.match(String(warn?.obj.err), /dtoverlay=gpio-led/);
  const gpio = await openLedPort(ledSchema.parse({ backend: 'gpio', line: 17 }), {
    clock: new ManualClock(),
    logger: log,
    loadGpio: async () => undefined,
  });
  assert.equal(gpio, undefined);
  const noLed = new StatusLed(undefined, { clock: new ManualClock(), logger: log });
  noLed.set('ota', true);
  assert.equal(noLed.showing(), 'ota');
  await noLed.close();
});

import { EdgeError } from '../../src/core/errors.js';
// The fakes publish Modbus codes: registering them gives their natures and link-down flags.
import '../../src/drivers/modbus/error-codes.js';
import type { DeviceDriver, TagSpec } from '../../src/core/ports.js';
import { badValue, goodValue, type TagValue } from '../../src/core/types.js';

/** A scriptable driver, one per test: fail starts, go dark, throw. */
export class FakeDriver implements DeviceDriver {
  startFailures = 0;
  startCalls = 0;
  down = false;
  throwOnPoll = false;
  stopped = 0;
  readonly polled: string[][] = [];

  constructor(
    readonly device: string,
    private readonly specs: TagSpec[],
  ) {}

  init(): void {}
  tags(): readonly TagSpec[] {
    return this.specs;
  }
  async start(): Promise<void> {
    this.startCalls++;
    if (this.startCalls <= this.startFailures)
      throw new EdgeError('EDGE_ERR_MODBUS_CONNECT', 'refused', { context: { device: this.device } });
  }
  async poll(tags: readonly string[]): Promise<readonly TagValue[]> {
    this.polled.push([...tags]);
    if (this.throwOnPoll) throw new TypeError('driver bug');
    return tags.map((t) =>
      this.down ? badValue(t, 'EDGE_ERR_MODBUS_TIMEOUT', 'no answer') : goodValue(t, this.polled.length),
    );
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  status(): Readonly<Record<string, unknown>> {
    return { polls: this.polled.length };
  }
}

/**
 * A real Modbus RTU slave (modbus-serial's ServerSerial) on one end of a pty pair whose
 * holding registers encode their own address, so a value read for the wrong register is
 * detectable, and which answers chosen requests late (after the client's timeout).
 */
import modbusSerial from 'modbus-serial';

/** The value of holding register `address` of unit `unit`: unique per (unit, address). */
export function registerValue(unit: number, address: number): number {
  return (unit * 4099 + address * 7 + 13) & 0xffff;
}

export interface LateSlave {
  /** Requests answered so far (late ones included once sent). */
  answered(): number;
  /** Requests answered late. */
  delayed(): number;
  close(): Promise<void>;
}

/**
 * `delayFor()` is asked once per request: 0 answers at once, n > 0 answers n ms later.
 * Requests are served concurrently, so a late answer may follow a later request's answer.
 */
export async function startLateSlave(
  path: string,
  baudRate: number,
  delayFor: () => number,
): Promise<LateSlave> {
  let answered = 0;
  let delayed = 0;
  const timers = new Set<NodeJS.Timeout>();
  const reply = <T>(value: T, cb: (err: Error | null, v: T) => void): void => {
    const ms = delayFor();
    if (ms <= 0) {
      answered++;
      cb(null, value);
      return;
    }
    delayed++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      answered++;
      cb(null, value);
    }, ms);
    timers.add(timer);
  };
  const values = (unit: number, address: number, length: number): number[] =>
    Array.from({ length }, (_, i) => registerValue(unit, address + i));
  const vector = {
    getHoldingRegister: (address: number, unit: number, cb: (err: Error | null, v: number) => void) =>
      reply(registerValue(unit, address), cb),
    getMultipleHoldingRegisters: (
      address: number,
      length: number,
      unit: number,
      cb: (err: Error | null, v: number[]) => void,
    ) => reply(values(unit, address, length), cb),
  };
  const server = await new Promise<InstanceType<typeof modbusSerial.ServerSerial>>((resolve, reject) => {
    const s = new modbusSerial.ServerSerial(vector, {
      path,
      baudRate,
      interval: 5,
      openCallback: (err?: Error | null) => (err ? reject(err) : resolve(s)),
    } as never);
  });
  return {
    answered: () => answered,
    delayed: () => delayed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
      }),
  };
}

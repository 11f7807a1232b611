/**
 * The station bench's probes and peers that need no agent: the cgroup v1 limits, an RTU
 * bus behind a DTU simulator, /proc readings, the agent's /metrics, the poll grid's phase.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';

/**
 * CFS weights (a task in the root group weighs 1024). Without them, on a box with a load
 * of 20 the agent's group got far less than its quota and the peers (the station's
 * hardware) answered late: the figures measured the host. The agent's weight lets it use
 * its quota whenever it wants to, which is all a Pi's core would give it, and no more (the
 * quota caps it); the peers' weight keeps them answering like real devices would.
 * BENCH_STATION_SHARES=0 leaves both at the default weight.
 */
const WEIGHTED = process.env.BENCH_STATION_SHARES !== '0';
export const AGENT_SHARES = WEIGHTED ? 16 * 1024 : 1024;
export const PEER_SHARES = WEIGHTED ? 4 * 1024 : 1024;

/**
 * Moves this process (and the peers it starts from now on) into a cpu cgroup of weight
 * PEER_SHARES, without a quota; the returned function moves it back and removes the group.
 */
export function weighPeers(name: string): () => void {
  const dir = `/sys/fs/cgroup/cpu/${name}`;
  const home = `/sys/fs/cgroup/cpu${/^\d+:cpu(?:,[^:]*)?:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/'}`;
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.shares'), String(PEER_SHARES));
    writeFileSync(join(dir, 'cgroup.procs'), String(process.pid));
  } catch {
    return () => undefined;
  }
  return () => {
    try {
      writeFileSync(join(home, 'cgroup.procs'), String(process.pid));
      rmdirSync(dir);
    } catch {
      /* a peer still in it: the kernel keeps the group until it ends */
    }
  };
}

/**
 * A cgroup v1 pair (cpu, memory) for one process: `cpuQuota` of one core per CFS period of
 * `periodMs`; the reason instead when not writable.
 */
export function makeCgroups(
  name: string,
  cpuQuota: number,
  memoryMb: number,
  periodMs = 100,
): { dirs: string[]; join(pid: number): void } | string {
  const cpu = `/sys/fs/cgroup/cpu/${name}`;
  const mem = `/sys/fs/cgroup/memory/${name}`;
  try {
    mkdirSync(cpu);
    writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(periodMs * 1000));
    writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.round(cpuQuota * periodMs * 1000)));
    writeFileSync(join(cpu, 'cpu.shares'), String(AGENT_SHARES));
  } catch (e) {
    return `cgroup v1 cpu controller not writable (${(e as Error).message})`;
  }
  try {
    mkdirSync(mem);
    writeFileSync(join(mem, 'memory.limit_in_bytes'), String(memoryMb * 1024 * 1024));
  } catch (e) {
    rmdirSync(cpu);
    return `cgroup v1 memory controller not writable (${(e as Error).message})`;
  }
  return {
    dirs: [cpu, mem],
    join: (pid) => {
      for (const d of [cpu, mem]) writeFileSync(join(d, 'cgroup.procs'), String(pid));
    },
  };
}

/**
 * Answers every complete 8-byte read-holding request in `buf` at once (register i =
 * address + i) through `answer`; returns the bytes of an incomplete request.
 */
export function answerReadHolding(buf: Buffer, answer: (frame: Buffer) => void): Buffer {
  while (buf.length >= 8) {
    const unit = buf[0]!;
    const address = buf.readUInt16BE(2);
    const count = buf.readUInt16BE(4);
    buf = buf.subarray(8);
    const body = Buffer.allocUnsafe(3 + 2 * count);
    body[0] = unit;
    body[1] = 3;
    body[2] = 2 * count;
    for (let i = 0; i < count; i++) body.writeUInt16BE((address + i) & 0xffff, 3 + 2 * i);
    answer(withCrc(body));
  }
  return buf;
}

/** An RS-485 bus of Modbus RTU slaves behind a DTU: answers read-holding requests at once. */
export function rtuBus(): Duplex {
  let buf: Buffer = Buffer.alloc(0);
  const bus: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      buf = answerReadHolding(buf.length ? Buffer.concat([buf, chunk]) : chunk, (f) => bus.push(f));
      done();
    },
  });
  return bus;
}

export interface CpuStat {
  readonly periods: number;
  readonly throttled: number;
  readonly throttledS: number;
}

/** The CPU cgroup's cpu.stat, less `since` when given. */
export function cpuStat(dir: string, since?: CpuStat): CpuStat {
  const text = readFileSync(join(dir, 'cpu.stat'), 'utf8');
  const field = (f: string): number => Number(new RegExp(`^${f} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    periods: field('nr_periods') - (since?.periods ?? 0),
    throttled: field('nr_throttled') - (since?.throttled ?? 0),
    throttledS: field('throttled_time') / 1e9 - (since?.throttledS ?? 0),
  };
}

export function procCpuMs(pid: number): number {
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name), in ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : NaN;
}

export async function metrics(httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
}

export function metricValues(text: string, name: string): number[] {
  const re = new RegExp(`^edge_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
  return [...text.matchAll(re)].map((m) => Number(m[1]));
}

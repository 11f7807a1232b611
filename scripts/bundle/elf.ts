/** Reads the machine field of an ELF file: proves a native addon was built for the target. */
import { closeSync, openSync, readSync } from 'node:fs';
import type { BundleTarget } from '../../src/ota/manifest.js';

/** ELF e_machine values of the targets (elf.h: EM_X86_64, EM_AARCH64). */
export const ELF_MACHINE: Readonly<Record<BundleTarget, number>> = { 'linux-x64': 62, 'linux-arm64': 183 };

/** e_machine of an ELF header, or undefined when the bytes are not ELF. */
export function elfMachine(header: Buffer): number | undefined {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const littleEndian = header[5] === 1;
  return littleEndian ? header.readUInt16LE(18) : header.readUInt16BE(18);
}

export function elfMachineOfFile(file: string): number | undefined {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    readSync(fd, header, 0, 20, 0);
    return elfMachine(header);
  } finally {
    closeSync(fd);
  }
}

export function targetOfMachine(machine: number | undefined): BundleTarget | undefined {
  return (Object.keys(ELF_MACHINE) as BundleTarget[]).find((target) => ELF_MACHINE[target] === machine);
}

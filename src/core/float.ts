/** Numbers as a device meant them: no digits binary floating point invented. */

/**
 * Binary floating point must not invent digits the device never sent: 2301 × 0.1 is
 * 230.1, not 230.10000000000002. Scaling keeps 15 significant digits (a double holds
 * 15.9), which drops the multiplication's noise and nothing the register carried.
 */
export function withoutFloatNoise(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(15)) : value;
}

/** The shortest decimal that is the same f32 (50.03, not 50.029998779296875). */
export function shortestF32(raw: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(raw.toPrecision(digits));
    if (Math.fround(candidate) === raw) return candidate;
  }
  return raw;
}

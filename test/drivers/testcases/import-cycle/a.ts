// One half of a type-only import circle (seam.test.ts must find it).
import type { B } from './b.js';
export type A = { b?: B };

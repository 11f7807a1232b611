// The other half of the circle.
import type { A } from './a.js';
export type B = { a?: A };

// A driver module reaching for the composed config (seam.test.ts must refuse it).
import type { EdgeConfig } from '../../../../src/config/schema.js';
export type Seen = EdgeConfig['devices'];

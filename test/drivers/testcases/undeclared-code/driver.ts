// A driver source that throws a code its definition does not declare (seam.test.ts must catch it).
export const thrown = 'EDGE_ERR_FAKE_NOT_DECLARED';

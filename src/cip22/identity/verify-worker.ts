/** Worker thread of the signature pool: runs VerifyJobs posted by verify-pool.ts. */
import { parentPort } from 'node:worker_threads';
import { runJob, type VerifyJob } from './verify-job.js';

parentPort?.on('message', (msg: { id: number; job: VerifyJob }) => {
  const { ok, z } = runJob(msg.job);
  parentPort?.postMessage(z ? { id: msg.id, ok, z } : { id: msg.id, ok });
});

/** Worker thread of the signature pool: runs VerifyJobs posted by verify-pool.ts. */
import { parentPort } from 'node:worker_threads';
import { runJob, type VerifyJob } from './verify-job.js';

parentPort?.on('message', (msg: { id: number; job: VerifyJob }) => {
  parentPort?.postMessage({ id: msg.id, ...runJob(msg.job) });
});

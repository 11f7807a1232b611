/** Worker thread of the signature pool: runs VerifyJobs (and KeysJobs) posted by verify-pool.ts. */
import { parentPort } from 'node:worker_threads';
import { runPoolJob, type KeysJob, type VerifyJob } from './verify-job.js';

parentPort?.on('message', (msg: { id: number; job: VerifyJob | KeysJob }) => {
  parentPort?.postMessage({ id: msg.id, ...runPoolJob(msg.job) });
});

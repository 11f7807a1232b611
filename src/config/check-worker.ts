/**
 * One-shot worker of off-thread.ts: checks one config (YAML text or a plain object) with the
 * composed schema, posts the result (the validated object, or every issue) and ends. zod,
 * the YAML parser and the schema live and die with this thread's isolate.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkConfigText, validateConfig } from './load.js';
import type { CheckRequest } from './off-thread.js';

const request = workerData as CheckRequest;
parentPort?.postMessage('text' in request ? checkConfigText(request.text) : validateConfig(request.raw));

/** The bytes of RTU read requests, built once per distinct read: a Line asks the same few every cycle. */
import { buildReadRequest, type ReadFunctionCode } from './frame.js';

/** Distinct requests kept (the cache is dropped beyond). */
const MAX_CACHED_REQUESTS = 256;

export class ReadRequests {
  /** By unit, function, address and count; a cached buffer is never written to. */
  private readonly built = new Map<number, Buffer>();

  /** The request's bytes; throws buildReadRequest's RangeError for a read out of range. */
  get(unit: number, fn: ReadFunctionCode, address: number, count: number): Buffer {
    const inRange =
      unit >>> 0 === unit &&
      unit <= 255 &&
      address >>> 0 === address &&
      address <= 0xffff &&
      count >>> 0 === count &&
      count <= 2000;
    if (!inRange) return buildReadRequest(unit, fn, address, count);
    // unique for in-range values: count < 2^12, address < 2^16, unit × 4 + fn − 1 < 2^10
    const key = ((unit * 4 + fn - 1) * 0x10000 + address) * 0x1000 + count;
    let request = this.built.get(key);
    if (!request) {
      request = buildReadRequest(unit, fn, address, count);
      if (this.built.size >= MAX_CACHED_REQUESTS) this.built.clear();
      this.built.set(key, request);
    }
    return request;
  }
}

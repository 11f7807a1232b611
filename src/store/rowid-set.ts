/**
 * A set of rowids kept as bitmaps of PAGE_ROWIDS consecutive rowids each. The delivered
 * rows of a backlog drain (sqlite-delivered.ts) are marked and forgotten by the hundred
 * thousand: a bit operation each here, where a Set<number> cost a hash insert and delete
 * with a table growing and shrinking in old space (mark() and forget() were 132 ms of the
 * event loop's CPU profile of a 500,000-record drain; 500,000 adds and deletes take 16 ms
 * here against 51-96 ms in a Set).
 *
 * Delivered rows are dense (messages of records read in rowid order, at most a window or
 * two of them): a page's 32 bytes of bits sit in the V8 heap (with the objects about 150
 * bytes: ~1 KB for 1,024 dense rowids, ~40 MB if each of MAX_DELIVERED_ROWS sat alone in
 * its page, where a Set holds them in ~8 MB), and a page goes with its last rowid. A rowid
 * that is not a safe integer is refused (RangeError): SQLite's rowids always are.
 */

/** Rowids per page (its bits: 32 bytes, under V8's 64-byte limit for a typed array kept in the heap). */
export const PAGE_ROWIDS = 256;
const WORDS = PAGE_ROWIDS / 32;

interface Page {
  readonly bits: Uint32Array;
  count: number;
}

export class RowidSet {
  private readonly pages = new Map<number, Page>();
  private n = 0;

  get size(): number {
    return this.n;
  }

  has(rowid: number): boolean {
    const page = this.pages.get(pageOf(rowid));
    if (!page) return false;
    const at = rowid - pageOf(rowid) * PAGE_ROWIDS;
    return (page.bits[at >>> 5]! & (1 << (at & 31))) !== 0;
  }

  add(rowid: number): void {
    const key = pageOf(rowid);
    let page = this.pages.get(key);
    if (!page) {
      page = { bits: new Uint32Array(WORDS), count: 0 };
      this.pages.set(key, page);
    }
    const at = rowid - key * PAGE_ROWIDS;
    const bit = 1 << (at & 31);
    const word = page.bits[at >>> 5]!;
    if ((word & bit) !== 0) return;
    page.bits[at >>> 5] = word | bit;
    page.count++;
    this.n++;
  }

  /** True when `rowid` was in the set. */
  delete(rowid: number): boolean {
    const key = pageOf(rowid);
    const page = this.pages.get(key);
    if (!page) return false;
    const at = rowid - key * PAGE_ROWIDS;
    const bit = 1 << (at & 31);
    const word = page.bits[at >>> 5]!;
    if ((word & bit) === 0) return false;
    page.bits[at >>> 5] = word & ~bit;
    this.n--;
    if (--page.count === 0) this.pages.delete(key);
    return true;
  }

  /** Every rowid of the set, ascending. */
  sorted(): Float64Array {
    const out = new Float64Array(this.n);
    let k = 0;
    for (const key of [...this.pages.keys()].sort((a, b) => a - b)) {
      const bits = this.pages.get(key)!.bits;
      for (let w = 0; w < WORDS; w++) {
        for (let word = bits[w]!; word !== 0; word &= word - 1) {
          out[k++] = key * PAGE_ROWIDS + w * 32 + 31 - Math.clz32(word & -word);
        }
      }
    }
    return out;
  }
}

function pageOf(rowid: number): number {
  if (!Number.isSafeInteger(rowid)) throw new RangeError(`not a rowid: ${rowid}`);
  return Math.floor(rowid / PAGE_ROWIDS);
}

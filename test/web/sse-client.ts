/** A minimal Server-Sent Events reader for the tests: every `event:`/`data:` message, parsed. */
import { get, type ClientRequest } from 'node:http';

export interface SseMessage {
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** Date.now() when the message arrived. */
  readonly at: number;
}

export interface SseClient {
  readonly messages: SseMessage[];
  /** Resolves with the first message (already received or future) matching `match`. */
  next(match: (m: SseMessage) => boolean): Promise<SseMessage>;
  /** Every byte received, as text (to look for what must never be sent). */
  text(): string;
  close(): void;
  /** Resolves when the agent ends the stream. */
  readonly ended: Promise<void>;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const messages: SseMessage[] = [];
    const waiters: Array<{ match: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }> = [];
    let raw = '';
    let buffer = '';
    const req: ClientRequest = get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`/events answered ${res.statusCode}`));
        res.resume();
        return;
      }
      const ended = new Promise<void>((done) => res.once('close', done));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          const message = { event, data: JSON.parse(data) as Record<string, unknown>, at: Date.now() };
          messages.push(message);
          for (const w of [...waiters])
            if (w.match(message)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(message);
            }
        }
      });
      resolve({
        messages,
        next(match) {
          const found = messages.find(match);
          if (found) return Promise.resolve(found);
          return new Promise((r) => waiters.push({ match, resolve: r }));
        },
        text: () => raw,
        close: () => req.destroy(),
        ended,
      });
    });
    req.on('error', reject);
  });
}

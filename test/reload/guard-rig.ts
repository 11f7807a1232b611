/** The config text both guard test files write: devices by name, a history directory. */
import { stringify } from 'yaml';

export function config(
  names: string | string[],
  historyDir: string,
  extra: Record<string, unknown> = {},
): string {
  return stringify({
    agent: { id: 'gw', site: 's' },
    reload: { historyDir },
    ...extra,
    devices: [names].flat().map((n) => ({
      name: n,
      driver: 'modbus',
      connection: { transport: 'tcp', host: '127.0.0.1', port: 1502 },
      tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
    })),
  });
}

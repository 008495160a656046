// `slicekv get|put|del|ranges|stats`: the SDK from the command line.
//
//   slicekv put <key> <value> [--seeds 127.0.0.1:7001]
//   slicekv get <key>          prints the value (exit 1 if absent)
//   slicekv del <key>
//   slicekv ranges             the routing table: range, view, owner
//   slicekv stats              per pod: keys, live bytes, ops served (Admin.Stats)

import { parseArgs } from 'node:util';
import { formatRange } from '../proto/keyspace/range.js';
import { createClient } from './client.js';
import { adminClient } from '../proto/adminClient.js';

export async function runClientCommand(command: string, argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv], allowPositionals: true,
    options: { seeds: { type: 'string', default: process.env.SLICEKV_SEEDS ?? '127.0.0.1:7001' } },
  });
  const client = createClient({ seeds: values.seeds.split(',') });
  try {
    switch (command) {
      case 'get': {
        const entry = await client.get(required(positionals, 0, 'key'));
        if (entry === null) {
          console.error('(not found)');
          return 1;
        }
        console.log(entry.value.toString());
        return 0;
      }
      case 'put':
        console.log(`version ${(await client.put(required(positionals, 0, 'key'), required(positionals, 1, 'value'))).version}`);
        return 0;
      case 'del':
        console.log((await client.delete(required(positionals, 0, 'key'))) ? 'deleted' : '(not found)');
        return 0;
      case 'ranges':
        for (const route of (await client.routeTable()).routes) console.log(`${formatRange(route)}  view ${route.view}  ${route.owner} ${route.address}`);
        return 0;
      default:
        return await stats(await client.routeTable().then((t) => t.addresses()));
    }
  } finally {
    client.close();
  }
}

function required(positionals: string[], index: number, name: string): string {
  const value = positionals[index];
  if (value === undefined) throw new Error(`missing <${name}>`);
  return value;
}

async function stats(addresses: string[]): Promise<number> {
  for (const address of addresses) {
    const admin = adminClient(address);
    const reply = await admin.call('Stats', {}).finally(() => admin.close());
    console.log(`${String(reply.pod)} ${address}: ${String(reply.keyCount)} keys, ${String(reply.liveBytes)} live bytes, ` +
      `${String(reply.opsTotal)} ops, ${(reply.ranges as unknown[]).length} ranges`);
  }
  return 0;
}

// Makes one pod the owner of the whole keyspace at view 1 (and the only route), via Admin.

import { adminClient } from '../../proto/adminClient.js';

export async function assignWholeKeyspace(address: string, podName: string): Promise<void> {
  const admin = adminClient(address);
  try {
    await admin.call('AssignRanges', {
      owned: [{ start: '0', end: '0', view: 1 }], routes: [{ start: '0', end: '0', view: 1, owner: podName, address }],
    });
  } finally {
    admin.close();
  }
}

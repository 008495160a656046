// A promise-based client of the Admin service, for the operator, the CLI, tools and tests.

import * as grpc from '@grpc/grpc-js';
import { slicekvServices } from './grpcDefinition.js';

export type AdminMethod = 'AssignRanges' | 'SplitRange' | 'MergeRanges' | 'Stats' | 'Health' | 'Checkpoint' | 'RecoverRanges'
  | 'StartMigration' | 'ControlMigration' | 'MigrationStatus' | 'PrepareMigration' | 'ReceiveOwnership' | 'MoveData' | 'PreCopy' | 'FetchKeys'
  | 'FinishMigration' | 'ResolveMigration';

export interface AdminClient {
  /** Calls `method`; rejects with the grpc ServiceError the pod answered. */
  call(method: AdminMethod, request: object, deadlineMs?: number): Promise<Record<string, unknown>>;
  close(): void;
}

type Unary = (request: object, options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, reply: Record<string, unknown>) => void) => void;

export function adminClient(address: string): AdminClient {
  const client = new (slicekvServices().Admin)(address, grpc.credentials.createInsecure());
  const methods = client as unknown as Record<AdminMethod, Unary>;
  return {
    call: (method, request, deadlineMs = 10_000) => new Promise((resolve, reject) => {
      methods[method].call(client, request, { deadline: Date.now() + deadlineMs }, (error, reply) => (error ? reject(error) : resolve(reply)));
    }),
    close: () => client.close(),
  };
}

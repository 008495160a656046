// A per-request deadline for client-node 1.4 calls: a middleware that sets an AbortSignal on
// each request (the generated clients take ConfigurationOptions per call). Without it a request
// to an API server that stopped answering would wait for TCP to give up.

import type { ConfigurationOptions, ObservableMiddleware, RequestContext, ResponseContext } from '@kubernetes/client-node';
// client-node 1.4 does not re-export its Observable helper; this is the one setHeaderOptions uses.
import { of } from '@kubernetes/client-node/dist/gen/rxjsStub.js';

export function timeoutOptions(timeoutMs: number, base?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (request: RequestContext) => {
      request.setSignal(AbortSignal.timeout(timeoutMs));
      return of(request);
    },
    post: (response: ResponseContext) => of(response),
  };
  return { ...base, middleware: [...(base?.middleware ?? []), middleware], middlewareMergeStrategy: 'append' };
}

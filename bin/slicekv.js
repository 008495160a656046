#!/usr/bin/env node
// slicekv command dispatcher: each command lives with the part it belongs to (dataplane/,
// operator/, client/), which never import one another; this file only picks one.
const [command, ...args] = process.argv.slice(2);
const usage = `usage: slicekv <command>
  dataplane --listen host:port --metrics-port N --memory 1GiB [--pod-name name]   run a data-plane pod
  local [--pods 3]                                                               run a local cluster
  operator [--kubeconfig path] --namespace ns [--metrics-port 9200] [--identity id]  run the Kubernetes operator
  get <key> | put <key> <value> | del <key> | ranges | stats  [--seeds host:port]   client commands`;

async function main() {
  switch (command) {
    case 'dataplane':
      await (await import('../dist/dataplane/main.js')).runDataplane(args);
      return;
    case 'local':
      await (await import('../dist/operator/local/localCluster.js')).runLocal(args);
      return;
    case 'operator':
      await (await import('../dist/operator/main.js')).runOperator(args);
      return;
    case 'get': case 'put': case 'del': case 'ranges': case 'stats':
      process.exitCode = await (await import('../dist/client/cli.js')).runClientCommand(command, args);
      return;
    default:
      console.error(usage);
      process.exitCode = command === undefined || command === 'help' ? 0 : 2;
  }
}

main().catch((error) => {
  console.error(`slicekv ${command}: ${error instanceof Error ? error.message : String(error)}`);
  // Exit now: a pod whose start-up recovery failed still has its server bound and would linger.
  process.exit(1);
});

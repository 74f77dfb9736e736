// The cluster worker of bench/cluster: `node worker.js rpc|echo`, forked by host.ts's runCluster.
import { serveWorker } from '@nocopy/transport/cluster';
import { makeServer, type Kind } from './servers.js';

serveWorker(makeServer(process.argv[2] as Kind));

// diagnostics_channel for the cluster's supervision, in the primary.
import diagnostics from 'node:diagnostics_channel';

/** Message: `{ event: 'ready' | 'exit' | 'restart-scheduled', slot, pid?, code?, signal?, expected?, delay?, failures? }`. */
export const clusterWorkerChannel = diagnostics.channel('nocopy:cluster:worker');

import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Cluster } from '../cluster/launcher.js';

/** Removes stored originals between runs so a long benchmark does not fill the disk. */
export async function clearOriginals(cluster: Cluster): Promise<void> {
  for (const node of cluster.info.nodes) {
    for (const pool of node.pools) await rm(path.join(pool.base_path, 'original'), { recursive: true, force: true });
  }
}

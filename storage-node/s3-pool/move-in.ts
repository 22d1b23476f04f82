import { errors } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { mimeForExt } from '../../shared/mime.js';
import { hashFile } from '../replication/hash-file.js';
import { absPath, type LocalObject, variantsOf } from '../replication/local-objects.js';
import { LocalCopyBad } from '../replication/send.js';
import type { S3Pool } from './pool.js';

const extOf = (rel: string) => rel.slice(rel.lastIndexOf('.') + 1);

/**
 * A move into an s3 pool of this node: every variant file, then the original, each put with
 * putOnce (nothing sent twice, size and SHA-256 checked in the bucket after). The original is
 * hashed here first: putOnce sends the hash it is given as metadata, so a rotten local file would
 * otherwise land in the bucket under the good hash. Variants are hashed as they are (a missing
 * one is moved without, as a move to a peer does). Idempotent: a rerun finds what is there.
 */
export async function copyIntoS3Pool(deps: { logger: Logger }, pool: S3Pool, sourcePath: string, o: LocalObject): Promise<void> {
  // The bucket holds finished objects only: no variants job runs for an s3 pool's rows.
  if (o.status === 'processing')
    throw errors.conflict('not_ready', `${o.uuid} is still making its variants; moved to ${pool.id} once ready`);
  for (const v of variantsOf(o)) {
    const file = absPath(sourcePath, v.rel_path);
    let hashed: { size: number; sha256: string };
    try {
      hashed = await hashFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      deps.logger.warn({ image_uuid: o.uuid, file: v.rel_path }, 'variant missing at the source; moved without it');
      continue;
    }
    await pool.put({ rel: v.rel_path, file, ...hashed, contentType: mimeForExt(extOf(v.rel_path)) });
  }
  const file = absPath(sourcePath, o.rel_path);
  let hashed: { size: number; sha256: string };
  try {
    hashed = await hashFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LocalCopyBad('missing', `${o.rel_path} is missing`);
    throw err;
  }
  if (hashed.size !== o.size || hashed.sha256 !== o.sha256)
    throw new LocalCopyBad('mismatch', `${o.rel_path} has other bytes than recorded (size ${hashed.size}, sha256 ${hashed.sha256})`);
  await pool.put({ rel: o.rel_path, file, size: o.size, sha256: o.sha256, contentType: o.mime });
}

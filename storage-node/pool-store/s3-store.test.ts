import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startS3Server } from '../../test/support/s3-server.js';
import type { S3PoolConfig } from '../config.js';
import { S3Pool } from '../s3-pool/pool.js';
import { poolStoreContract } from './contract.js';

poolStoreContract('s3 (s3rver)', async () => {
  const s3 = await startS3Server('fennec-cold');
  const config: S3PoolConfig = {
    id: 'cold',
    tier: 'cold',
    type: 's3',
    public_base_url: 'http://node.test/cold',
    s3: { endpoint: s3.url, region: 'us-east-1', bucket: s3.bucket, prefix: 'cold', force_path_style: true },
    presign_seconds: 3600,
    capacity_bytes: 10 ** 12,
  };
  const pool = new S3Pool(config, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  const client = await pool.client();
  return {
    store: pool,
    entries: async () => {
      const res = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
      return (res.Contents ?? []).map((o) => o.Key!.replace(/^cold\//, '')).sort();
    },
    expectedCapacity: async (used) => ({ total_bytes: 10 ** 12, free_bytes: Math.max(0, 10 ** 12 - used) }),
    close: async () => {
      client.destroy();
      await s3.close();
    },
  };
});

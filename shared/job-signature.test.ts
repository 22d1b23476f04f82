import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { signJob, verifyJob } from './job-signature.js';
import { type JobData, jobId } from './jobs.js';

const coordinator = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');
const getKey = createLocalJWKSet({ keys: [{ ...(await exportJWK(coordinator.publicKey)), kid: 'k-1', alg: 'EdDSA' }] });
const job: JobData = { kind: 'replicate', image_uuid: 'u1', target: { node_id: 'n2', pool_id: 'p2', url: 'http://n2.test' } };
const sign = (data: JobData, o: { key?: typeof coordinator.privateKey; nodeId?: string; now?: number } = {}) =>
  signJob(data, { issuer: 'fennec-coordinator', nodeId: o.nodeId ?? 'n1', key: o.key ?? coordinator.privateKey, kid: 'k-1', now: o.now });
const verify = (raw: unknown, id = jobId(job)) =>
  verifyJob(raw, { nodeId: 'n1', jobId: id, getKey, issuer: 'fennec-coordinator', clockToleranceSeconds: 5 });

describe('signed jobs', () => {
  it('returns the payload that was signed, ignoring fields rewritten beside it', async () => {
    const signed = await sign(job);
    expect(await verify(signed)).toEqual(job);
    const rewritten = { ...signed, target: { ...job.target, url: 'http://attacker.test' } };
    expect(await verify(rewritten)).toEqual(job);
  });

  it('refuses unsigned, foreign-key, other-node, other-id and expired jobs', async () => {
    await expect(verify(job)).rejects.toMatchObject({ code: 'unsigned_job', retryable: false });
    await expect(verify(await sign(job, { key: attacker.privateKey }))).rejects.toMatchObject({ code: 'invalid_job' });
    await expect(verify(await sign(job, { nodeId: 'n9' }))).rejects.toMatchObject({ code: 'invalid_job' });
    await expect(verify(await sign(job), 'u1-replicate-p3')).rejects.toMatchObject({ code: 'invalid_job' });
    const old = await sign(job, { now: Date.now() - 2 * 24 * 3600 * 1000 });
    await expect(verify(old)).rejects.toMatchObject({ code: 'invalid_job' });
  });
});

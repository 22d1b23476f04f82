import { generateKeyPairSync } from 'node:crypto';
import type { Queue } from 'bullmq';
import { createLocalJWKSet, exportJWK } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { verifyJob } from '../shared/job-signature.js';
import { type JobData, jobId } from '../shared/jobs.js';
import { copyTarget, nodeBaseUrl, nodeJobs } from './node-jobs.js';
import type { NodeQueues } from './queues.js';

function fakeQueues(state: string | undefined, opts: { fail?: boolean } = {}) {
  const remove = vi.fn(async () => undefined);
  const add = vi.fn(async () => ({}));
  const queue = {
    getJob: vi.fn(async () => {
      if (opts.fail) throw new Error('Connection is closed.');
      return state === undefined ? undefined : { getState: async () => state, remove };
    }),
    add,
  } as unknown as Queue;
  const queues: NodeQueues = { get: () => queue, close: async () => undefined };
  return { queues, add, remove };
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = { issuer: 'fennec-coordinator', signingKeys: () => ({ kid: 'k-1', privateKey }) };

const data: JobData = { kind: 'delete', image_uuid: '7f0c1d7e-3f4c-4a35-9a57-5d9c9e0c1f00', pool_id: 'p2' };

describe('nodeJobs.ensure', () => {
  it('adds an absent job by its deterministic id with the copy job options', async () => {
    const f = fakeQueues(undefined);
    expect(await nodeJobs({ ...signer, queues: f.queues }).ensure('n1', data)).toBe('added');
    expect(f.add).toHaveBeenCalledWith(
      'delete',
      { ...data, sig: expect.any(String) },
      expect.objectContaining({
        jobId: jobId(data),
        priority: 50,
        attempts: 5,
        backoff: { type: 'exponential', delay: 2000 },
        removeOnComplete: true,
      }),
    );
  });

  it('signs the payload for the node it is added to', async () => {
    const f = fakeQueues(undefined);
    await nodeJobs({ ...signer, queues: f.queues }).ensure('n1', data);
    const added = (f.add.mock.calls[0] as unknown[])[1];
    const getKey = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k-1', alg: 'EdDSA' }] });
    const check = (nodeId: string) => verifyJob(added, { nodeId, jobId: jobId(data), getKey, clockToleranceSeconds: 5 });
    expect(await check('n1')).toEqual(data);
    await expect(check('n2')).rejects.toMatchObject({ code: 'invalid_job' });
  });

  it('leaves a waiting or active job alone and re-adds a failed one', async () => {
    for (const state of ['waiting', 'active', 'delayed', 'prioritized']) {
      const f = fakeQueues(state);
      expect(await nodeJobs({ ...signer, queues: f.queues }).ensure('n1', data)).toBe('exists');
      expect(f.add).not.toHaveBeenCalled();
    }
    const f = fakeQueues('failed');
    expect(await nodeJobs({ ...signer, queues: f.queues }).ensure('n1', data)).toBe('re-added');
    expect(f.remove).toHaveBeenCalledOnce();
    expect(f.add).toHaveBeenCalledOnce();
  });

  it('fails soft when Redis is down', async () => {
    const onError = vi.fn();
    const f = fakeQueues(undefined, { fail: true });
    expect(await nodeJobs({ ...signer, queues: f.queues, onError }).ensure('n1', data)).toBe('error');
    expect(onError).toHaveBeenCalledOnce();
  });
});

describe('nodeBaseUrl', () => {
  it('strips the upload route, else uses the public URL or the origin', () => {
    expect(nodeBaseUrl({ upload_api_url: 'http://s01.example.com:8081/api/v1/upload', public_url: null })).toBe(
      'http://s01.example.com:8081',
    );
    // Nodes registered before the public path keep the old one in their upload URL.
    expect(nodeBaseUrl({ upload_api_url: 'http://s01.example.com:8081/api/internal/upload', public_url: null })).toBe(
      'http://s01.example.com:8081',
    );
    expect(nodeBaseUrl({ upload_api_url: 'https://s01.example.com/node/api/v1/upload/', public_url: 'https://x' })).toBe(
      'https://s01.example.com/node',
    );
    expect(nodeBaseUrl({ upload_api_url: 'http://s01/upload', public_url: 'https://s01.example.com/' })).toBe('https://s01.example.com');
    expect(nodeBaseUrl({ upload_api_url: 'http://s01:1/x/y', public_url: null })).toBe('http://s01:1');
    expect(copyTarget({ node_id: 'n2', upload_api_url: 'http://n2/api/internal/upload', public_url: null }, 'p2')).toEqual({
      node_id: 'n2',
      pool_id: 'p2',
      url: 'http://n2',
    });
  });
});

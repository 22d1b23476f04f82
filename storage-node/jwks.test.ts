import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { CoordinatorKeys, NodeKeys } from './jwks.js';

const dir = mkdtempSync(path.join(tmpdir(), 'jwks-'));
const logger = createLogger({ name: 'test', level: 'silent' });
const opts = (url: string, allowInsecure?: boolean) => ({ url, cacheFile: path.join(dir, 'cache.json'), logger, allowInsecure });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('key sets refuse plain http off this machine (issue 17, item 10)', () => {
  it('throws a config error for an http:// coordinator URL on another host', () => {
    // Anyone on the path could swap the keys and mint upload tokens or forge peers' PUTs.
    expect(() => new CoordinatorKeys(opts('http://coord.example:8080/.well-known/jwks.json'))).toThrow(ConfigError);
    expect(() => new NodeKeys(opts('http://10.0.0.5:8080/.well-known/fennec-node-keys.json'))).toThrow(/https/);
  });

  it('accepts https anywhere, http to loopback, and http anywhere when explicitly allowed', () => {
    expect(() => new CoordinatorKeys(opts('https://coord.example/.well-known/jwks.json'))).not.toThrow();
    expect(() => new CoordinatorKeys(opts('http://127.0.0.1:8080/.well-known/jwks.json'))).not.toThrow();
    expect(() => new NodeKeys(opts('http://[::1]:8080/.well-known/fennec-node-keys.json'))).not.toThrow();
    expect(() => new NodeKeys(opts('http://localhost:8080/.well-known/fennec-node-keys.json'))).not.toThrow();
    expect(() => new NodeKeys(opts('http://10.0.0.5:8080/.well-known/fennec-node-keys.json', true))).not.toThrow();
  });
});

import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';

/** A configuration that failed validation; `problems` lists every bad value at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The environment a binary configures itself from: an env file (`--env-file PATH` or
 * `FENNEC_ENV_FILE`) overlaid by the real environment, so systemd's EnvironmentFile and a
 * one-off `FENNEC_X=… fennec-node` both work.
 */
export function readEnvironment(argv: string[], env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const i = argv.indexOf('--env-file');
  const file = i >= 0 ? argv[i + 1] : env.FENNEC_ENV_FILE;
  let fromFile: Record<string, string | undefined> = {};
  if (file) {
    try {
      fromFile = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch (err) {
      throw new ConfigError([`env file ${file}: ${(err as Error).message}`]);
    }
  }
  return { ...fromFile, ...env };
}

/** Parses env vars with a zod schema whose keys are the variable names; lists every problem. */
export function parseConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`));
}

/** Schema pieces shared by both binaries' config. */
export const env = {
  port: (def: number) => z.coerce.number().int().min(0).max(65535).default(def),
  int: (def: number, min = 0) => z.coerce.number().int().min(min).default(def),
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  url: () => z.string().url(),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

import type { Context } from 'hono';
import type { z } from 'zod';
import { errors } from '../shared/errors.js';
import { parseJsonBody, readLimitedBody } from './body.js';

/** Validates a value with zod; a failure is a 400 `invalid_body` listing every problem. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw errors.badRequest('invalid_body', problems.join('; '));
}

/** App and admin requests are small JSON documents (a node with its pools is the largest). */
const MAX_JSON_BODY = 256 * 1024;

/** Reads (counting bytes, 413 past the limit) and validates a JSON request body. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const raw = await readLimitedBody(c.req.raw, MAX_JSON_BODY);
  return validate(schema, parseJsonBody(raw, 'body must be JSON'));
}

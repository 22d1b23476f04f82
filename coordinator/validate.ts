import type { Context } from 'hono';
import type { z } from 'zod';
import { errors } from '../shared/errors.js';

/** Validates a value with zod; a failure is a 400 `invalid_body` listing every problem. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw errors.badRequest('invalid_body', problems.join('; '));
}

/** Reads and validates a JSON request body. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let value: unknown;
  try {
    value = await c.req.json();
  } catch (err) {
    throw errors.badRequest('invalid_body', 'body must be JSON', err);
  }
  return validate(schema, value);
}

import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { AppError, isAppError } from './errors.js';

/** The body of every error response, from both binaries. */
export interface ErrorBody {
  error: string;
  message: string;
}

export function errorResponse(c: Context, err: AppError): Response {
  for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
  const body: ErrorBody = { error: err.code, message: err.message };
  return c.json(body, err.status as ContentfulStatusCode);
}

/**
 * The one place errors become HTTP. AppErrors are expected outcomes (logged at debug);
 * anything else is a bug or an outage and is logged once here, with its stack.
 */
export function errorHandler(logger: Logger): ErrorHandler {
  return function onError(err, c) {
    if (isAppError(err)) {
      if (err.status >= 500) logger.warn({ err, path: c.req.path }, err.message);
      else logger.debug({ code: err.code, path: c.req.path }, err.message);
      return errorResponse(c, err);
    }
    logger.error({ err, path: c.req.path }, 'unhandled error');
    return errorResponse(c, new AppError({ code: 'internal', status: 500, message: 'internal error', cause: err }));
  };
}

export const notFoundHandler: NotFoundHandler = (c) =>
  c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404);

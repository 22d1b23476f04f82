import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

/** Request headers a browser may send to the upload routes (direct and tus). */
const ALLOW_HEADERS = [
  'authorization',
  'content-type',
  'x-checksum-sha256',
  'tus-resumable',
  'upload-length',
  'upload-offset',
  'upload-metadata',
  'upload-checksum',
  'x-http-method-override',
];
/** Response headers page scripts may read. */
const EXPOSE_HEADERS = ['retry-after', 'location', 'tus-resumable', 'upload-offset', 'upload-length', 'fennec-image-uuid'];

/**
 * CORS for the upload routes, so a web page on any origin can upload straight to the node.
 * `*` is safe here: uploads authenticate with a bearer token the page holds, never a cookie, so
 * no credentials are allowed. A preflight (OPTIONS with Access-Control-Request-Method) is
 * answered here; any other OPTIONS (tus discovery) goes on to its route. Answers that already
 * carry CORS headers (@tus/server sets its own) keep them.
 */
export function uploadCors(): MiddlewareHandler {
  const preflight = cors({
    origin: '*',
    allowMethods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: 600,
  });
  return async function uploadCorsMiddleware(c, next) {
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method')) return preflight(c, next);
    await next();
    if (!c.req.header('origin') || c.res.headers.has('access-control-allow-origin')) return;
    c.res.headers.set('access-control-allow-origin', '*');
    c.res.headers.set('access-control-expose-headers', EXPOSE_HEADERS.join(', '));
  };
}

import type { Context, Hono } from 'hono';
import { decodeJwt } from 'jose';
import { errors } from '../shared/errors.js';
import {
  NODE_QUERIES,
  NODE_REPORTS,
  type NodeQueryKind,
  type NodeReportBody,
  type NodeReportKind,
  type NodeReportSpec,
} from '../shared/reports.js';
import { bearerToken, sha256Hex } from '../shared/tokens.js';
import { type CoordinatorEnv, verifyNodeToken } from './auth.js';
import { parseJsonBody, readLimitedBody, refuseDeclaredLength } from './body.js';
import type { NodesRepo } from './db/nodes.js';
import { validate } from './validate.js';

/** What a report handler gets: the body, parsed with the kind's schema, and the node that signed it. */
export interface NodeReport<K extends NodeReportKind> {
  body: NodeReportBody<K>;
  /** The signing node; the body's `node_id` is this node (checked before the handler runs). */
  node: string;
}
export type NodeReportHandler<K extends NodeReportKind> = (
  c: Context<CoordinatorEnv>,
  report: NodeReport<K>,
) => Response | Promise<Response>;
export type NodeQueryHandler = (c: Context<CoordinatorEnv>, node: string) => Response | Promise<Response>;

export interface ReportOptions {
  /** Called with what refused a signed, well-formed report: its body, its node_id or the handler. */
  refused?: (err: unknown) => void;
}

/** Node callbacks are small JSON documents; anything bigger is not one. */
const MAX_NODE_BODY = 64 * 1024;
const EMPTY_SHA256 = sha256Hex('');

/**
 * The body hash the token claims, so the signature can be checked before the body is read; the
 * body is then held to it. A token that does not decode fails verification anyway.
 */
function claimedSha256(token: string): string {
  try {
    const claimed = decodeJwt(token).sha256;
    return typeof claimed === 'string' ? claimed : '';
  } catch {
    return '';
  }
}

/**
 * Mounts node → coordinator routes on `app` from shared/reports.ts, each at its full path: the
 * one place that checks a node's signature, parses a report and holds a node to speaking for itself.
 */
export function nodeSignedRoutes(app: Hono<CoordinatorEnv>, nodes: NodesRepo) {
  return {
    /** `POST {path}`: token for the kind's purpose bound to the body's SHA-256, body valid, `node_id` the signer. */
    report<K extends NodeReportKind>(kind: K, handler: NodeReportHandler<K>, opts: ReportOptions = {}): void {
      const spec: NodeReportSpec = NODE_REPORTS[kind];
      app.post(spec.path, async (c) => {
        const token = bearerToken(c.req.header('authorization'), 'missing_token');
        // A declared length over the limit is refused before any crypto, as it always was.
        refuseDeclaredLength(c.req.raw, MAX_NODE_BODY, 'callback body');
        // Everything but the body hash is checked before a byte is read: a stranger's body is
        // never read at all, and a signed one only up to the limit.
        const claims = await verifyNodeToken(nodes, token, spec.purpose, claimedSha256(token));
        const raw = await readLimitedBody(c.req.raw, MAX_NODE_BODY, 'callback body');
        if (sha256Hex(raw) !== claims.sha256) throw errors.unauthorized('invalid_token', 'token is bound to another body');
        const value = parseJsonBody(raw);
        try {
          const body = validate(spec.schema, value) as NodeReportBody<K>;
          if (body.node_id !== claims.iss) throw errors.forbidden('node_mismatch', `node ${claims.iss} cannot report for ${body.node_id}`);
          return await handler(c, { body, node: claims.iss });
        } catch (err) {
          opts.refused?.(err);
          throw err;
        }
      });
    },

    /** `GET {path}`: the token binds the empty body and, in `bind.url`, exactly this path and query. */
    query(kind: NodeQueryKind, handler: NodeQueryHandler): void {
      const spec = NODE_QUERIES[kind];
      app.get(spec.path, async (c) => {
        const token = bearerToken(c.req.header('authorization'), 'missing_token');
        const claims = await verifyNodeToken(nodes, token, spec.purpose, EMPTY_SHA256);
        const url = new URL(c.req.url);
        if (claims.bind?.url !== `${url.pathname}${url.search}`)
          throw errors.unauthorized('invalid_token', 'token is bound to another URL');
        return handler(c, claims.iss);
      });
    },
  };
}

import type { CopyWithNode } from './copies.js';
import type { NodeState } from './nodes.js';

/**
 * Which copies count: the one definition, as SQL fragments for the ledgers' queries and as a
 * predicate for code holding rows (durability/repair.ts). The fragments expect the copy as `c`
 * and its node as `n`.
 */

/** Nodes whose copies still count: a node gone down or lost is not holding anything we can use. */
export const HOLDING_NODE_STATES: readonly NodeState[] = ['up', 'draining'];
/** `HOLDING_NODE_STATES` as an SQL list. */
export const HOLDING = `(${HOLDING_NODE_STATES.map((st) => `'${st}'`).join(', ')})`;

/** Repair attempts after which a corrupt copy stops counting and a replacement is planned elsewhere. */
export const CORRUPT_REPAIR_ATTEMPTS = 5;

/**
 * Copies that count toward the factor: ok, pending, and corrupt ones still being rewritten in
 * place (a scrub repair must not also plan a copy elsewhere and then trim it), on a node still
 * holding. The factor counts them by distinct node.
 */
export const COUNTED = `(c.state IN ('ok', 'pending') OR (c.state = 'corrupt' AND c.attempts < ${CORRUPT_REPAIR_ATTEMPTS})) AND n.state IN ${HOLDING}`;

/** Good copies on a node still holding: what can be read from, and what protects an object. */
export const LIVE_OK = `c.state = 'ok' AND n.state IN ${HOLDING}`;

/** `COUNTED` for a row already read. */
export function countsTowardFactor(c: Pick<CopyWithNode, 'state' | 'attempts' | 'node_state'>): boolean {
  return (
    (c.state === 'ok' || c.state === 'pending' || (c.state === 'corrupt' && c.attempts < CORRUPT_REPAIR_ATTEMPTS)) &&
    HOLDING_NODE_STATES.includes(c.node_state)
  );
}

import type { CopyWithNode } from '../db/copies.js';
import { countsTowardFactor } from '../db/counted-copies.js';
import { copyTarget } from '../node-jobs.js';
import { added, bucketReaders, type DurabilityDeps, MAX_COPY_ATTEMPTS, readable, sourceCopy, type TickContext } from './context.js';
import { restoreJob } from './restore.js';
import { chooseCopyTarget, type TargetNode } from './target.js';

/**
 * Step b: objects with fewer live copies than their pool's factor get a pending copy on a new
 * target and a replicate job on a node holding a good copy. The scan resumes after the last
 * object it looked at, so objects that cannot be repaired now do not starve the others.
 */
export async function planReplicas(deps: DurabilityDeps, ctx: TickContext, cursor: { after: string }) {
  const { copies, pools } = deps.repos;
  const { settings, jobs, logger } = deps;
  const rows = copies.underReplicated(cursor.after, settings.repairBatch);
  cursor.after = rows.length < settings.repairBatch ? '' : rows[rows.length - 1]!.image_uuid;
  const stats = { planned: 0, noSource: 0, noTarget: 0 };
  if (rows.length === 0) return stats;
  const allPools = pools.list();
  const targetNodes = new Map<string, TargetNode>([...ctx.nodes.values()].map((n) => [n.node_id, n]));
  for (const o of rows) {
    const list = copies.ofImage(o.image_uuid);
    const source = sourceCopy(ctx, settings, list);
    if (!source) {
      stats.noSource++;
      continue;
    }
    const exclude = new Set(list.map((c) => c.node_id));
    const regions = new Set(list.map((c) => c.region).filter((r): r is string => r !== null));
    // Nodes, not rows: a second copy on a node that holds one already protects nothing.
    for (let missing = o.rf - new Set(list.filter(countsTowardFactor).map((c) => c.node_id)).size; missing > 0; missing--) {
      const choose = (excludeNodes: ReadonlySet<string>) =>
        chooseCopyTarget({
          pools: allPools,
          nodes: targetNodes,
          heartbeats: ctx.heartbeats,
          now: ctx.now,
          maxAgeMs: settings.heartbeatMaxAgeMs,
          size: o.size,
          tier: o.tier,
          excludeNodes,
          avoidRegions: regions,
          drainingPools: ctx.drainingPools,
          plannedBytes: (id) => ctx.plannedBytes.get(id) ?? 0,
        });
      const failed = ctx.gaveUp.get(o.image_uuid);
      const choice = (failed && choose(new Set([...exclude, ...failed]))) || choose(exclude);
      if (!choice) {
        stats.noTarget++;
        logger.debug({ image_uuid: o.image_uuid, size: o.size }, 'no pool can take another copy');
        break;
      }
      const { pool, node } = choice;
      copies.insert(
        { image_uuid: o.image_uuid, pool_id: pool.pool_id, node_id: node.node_id, state: 'pending', size: o.size, sha256: o.sha256 },
        ctx.now,
      );
      exclude.add(node.node_id);
      if (node.region) regions.add(node.region);
      ctx.plannedBytes.set(pool.pool_id, (ctx.plannedBytes.get(pool.pool_id) ?? 0) + o.size);
      const outcome = await jobs.ensure(source.node_id, {
        kind: 'replicate',
        image_uuid: o.image_uuid,
        target: copyTarget(ctx.nodes.get(node.node_id)!, pool.pool_id),
      });
      // Redis down: the row stays pending with no ensure time, so the next tick adds the job.
      if (outcome !== 'error') copies.ensured(o.image_uuid, pool.pool_id, ctx.now, added(outcome));
      stats.planned++;
      logger.info({ image_uuid: o.image_uuid, from: source.node_id, to: node.node_id, pool_id: pool.pool_id }, 'replica planned');
    }
  }
  return stats;
}

/**
 * Step e for copies: pending copies get their replicate job back (or their restore job, when no
 * good copy is left and the target pool can read the object's backup bucket; given up after
 * MAX_COPY_ATTEMPTS adds, or at once when their target left service: repair plans them
 * elsewhere), deleting copies their delete job.
 */
export async function reensureCopies(deps: DurabilityDeps, ctx: TickContext) {
  const { copies } = deps.repos;
  const { settings, jobs, logger } = deps;
  const before = ctx.now - settings.jobRetryMs;
  let ensured = 0;
  let givenUp = 0;
  for (const c of copies.due('pending', before, settings.repairBatch)) {
    const target = ctx.nodes.get(c.node_id);
    if (c.attempts >= MAX_COPY_ATTEMPTS || !target || target.state !== 'up') {
      copies.remove(c.image_uuid, c.pool_id);
      ctx.gaveUp.set(c.image_uuid, (ctx.gaveUp.get(c.image_uuid) ?? new Set()).add(c.node_id));
      givenUp++;
      logger.warn(
        { image_uuid: c.image_uuid, pool_id: c.pool_id, attempts: c.attempts, node_state: target?.state },
        'pending copy given up; repair plans it elsewhere',
      );
      continue;
    }
    const source = sourceCopy(ctx, settings, copies.ofImage(c.image_uuid), c.node_id);
    // No copy to send it: a copy restored from S3 (or one that can be) gets its restore job back.
    const backup = source ? undefined : deps.repos.restorable.backedUp(c.image_uuid);
    if (!source && !(backup && bucketReaders(deps, ctx, backup.bucket).has(c.pool_id))) {
      copies.ensured(c.image_uuid, c.pool_id, ctx.now, false);
      continue;
    }
    const outcome = source
      ? await jobs.ensure(source.node_id, { kind: 'replicate', image_uuid: c.image_uuid, target: copyTarget(target, c.pool_id) })
      : await jobs.ensure(c.node_id, restoreJob(backup!, c.pool_id));
    if (outcome !== 'error') copies.ensured(c.image_uuid, c.pool_id, ctx.now, added(outcome));
    ensured++;
  }
  for (const c of copies.due('deleting', before, settings.repairBatch)) {
    const outcome = await jobs.ensure(c.node_id, { kind: 'delete', image_uuid: c.image_uuid, pool_id: c.pool_id });
    if (outcome !== 'error') copies.ensured(c.image_uuid, c.pool_id, ctx.now, added(outcome));
    ensured++;
  }
  return { ensured, givenUp };
}

/**
 * Step c: a corrupt copy is rewritten in place from a good copy elsewhere (the node verifies the
 * hash before replacing its file; its copy.stored makes the row ok again). With no good copy
 * nothing is deleted: it is logged and counted (fennec_copies_unrepairable).
 */
export async function repairCorrupt(deps: DurabilityDeps, ctx: TickContext) {
  const { copies } = deps.repos;
  const { settings, jobs, logger } = deps;
  const stats = { queued: 0, unrepairable: 0 };
  for (const c of copies.due('corrupt', ctx.now - settings.jobRetryMs, settings.repairBatch)) {
    const holder = ctx.nodes.get(c.node_id);
    const source = sourceCopy(ctx, settings, copies.ofImage(c.image_uuid), c.node_id);
    if (!source || !holder || !readable(ctx, settings, c.node_id)) {
      copies.ensured(c.image_uuid, c.pool_id, ctx.now, false);
      if (!source) {
        stats.unrepairable++;
        logger.error({ image_uuid: c.image_uuid, pool_id: c.pool_id, reason: c.reason }, 'corrupt copy and no good copy to repair it from');
      }
      continue;
    }
    const outcome = await jobs.ensure(source.node_id, {
      kind: 'replicate',
      image_uuid: c.image_uuid,
      target: copyTarget(holder, c.pool_id),
    });
    if (outcome !== 'error') copies.ensured(c.image_uuid, c.pool_id, ctx.now, added(outcome));
    stats.queued++;
  }
  return stats;
}

/**
 * Step d: more good copies on nodes in service than configured (a node came back after repair
 * replaced its copies) → the surplus is marked deleting and its node gets a delete job. The
 * primary stays when healthy; among the others the newest go first.
 */
export async function trimSurplus(deps: DurabilityDeps, ctx: TickContext) {
  const { copies, objects } = deps.repos;
  const { settings, jobs, logger } = deps;
  let marked = 0;
  for (const row of copies.surplus(settings.repairBatch)) {
    const primary = objects.get(row.image_uuid)?.pool_id;
    const good = copies.ofImage(row.image_uuid).filter((c) => c.state === 'ok' && c.node_state === 'up');
    for (const v of surplusVictims(good, primary, row.rf)) {
      copies.setState(v.image_uuid, v.pool_id, 'deleting', 'surplus', ctx.now);
      const outcome = await jobs.ensure(v.node_id, { kind: 'delete', image_uuid: v.image_uuid, pool_id: v.pool_id });
      if (outcome !== 'error') copies.ensured(v.image_uuid, v.pool_id, ctx.now, added(outcome));
      marked++;
      logger.info({ image_uuid: v.image_uuid, node_id: v.node_id, pool_id: v.pool_id }, 'surplus copy marked for deletion');
    }
  }
  return { marked };
}

/**
 * Which good copies to delete so that `rf` stay: the primary, then the oldest copy on each node
 * not yet kept (copies on distinct nodes first), then — only when there are fewer nodes than
 * the factor — the oldest of the rest.
 */
export function surplusVictims<C extends Pick<CopyWithNode, 'pool_id' | 'node_id' | 'created_at'>>(
  good: C[],
  primary: string | undefined,
  rf: number,
): C[] {
  const byAge = [...good].sort((a, b) => a.created_at - b.created_at || (a.pool_id < b.pool_id ? -1 : 1));
  const first = byAge.find((c) => c.pool_id === primary);
  const ordered = first ? [first, ...byAge.filter((c) => c !== first)] : byAge;
  const keep: C[] = [];
  const nodes = new Set<string>();
  for (const c of ordered)
    if (keep.length < rf && !nodes.has(c.node_id)) {
      keep.push(c);
      nodes.add(c.node_id);
    }
  for (const c of ordered) if (keep.length < rf && !keep.includes(c)) keep.push(c);
  return good.filter((c) => !keep.includes(c));
}

/** Step f: objects whose primary is unusable point at a good copy on a node in service. */
export function failoverPrimaries(deps: DurabilityDeps, ctx: TickContext) {
  const { copies } = deps.repos;
  let switched = 0;
  for (const uuid of copies.primaryAtRisk(deps.settings.repairBatch)) {
    const next = copies.failover(uuid, (nodeId) => readable(ctx, deps.settings, nodeId));
    if (next) {
      switched++;
      deps.logger.info({ image_uuid: uuid, ...next }, 'primary switched to a healthy copy');
    }
  }
  return { switched };
}

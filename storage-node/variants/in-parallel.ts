/** Runs `fns` with at most `limit` at a time; the first failure rejects after all started ones settle. */
export async function inParallel<T>(limit: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(fns.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < fns.length) {
      const i = next++;
      try {
        results[i] = await fns[i]!();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, fns.length)) }, lane));
  if (failure) throw failure.err;
  return results;
}

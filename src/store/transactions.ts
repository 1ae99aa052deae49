/** Why a TransactWriteItems call was cancelled, item by item (DynamoDB's CancellationReasons codes). */
export interface Cancellation {
  readonly codes: readonly string[];
}

/** The cancellation codes of a TransactionCanceledException, or undefined for any other error. */
export function cancellationOf(err: unknown): Cancellation | undefined {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return undefined;
  const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return { codes: reasons.map((r) => r.Code ?? 'None') };
}

export const failedCondition = (c: Cancellation, index: number): boolean => c.codes[index] === 'ConditionalCheckFailed';

/** Another transaction touched one of the items at the same moment; the whole thing can be retried. */
export const conflicted = (c: Cancellation): boolean =>
  c.codes.some((code) => code === 'TransactionConflict') && !c.codes.includes('ConditionalCheckFailed');

export const isConditionFailure = (err: unknown): boolean =>
  err instanceof Error && err.name === 'ConditionalCheckFailedException';

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

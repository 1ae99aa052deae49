/**
 * A meeting point for racing callers: each call waits until `parties` callers have arrived, then
 * all go on together. Tests use it to hold two requests at the same step (both read, neither
 * written yet), so a race is made to happen rather than hoped for.
 */
export function barrier(parties: number): () => Promise<void> {
  let waiting = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    waiting += 1;
    if (waiting === parties) open();
    return opened;
  };
}

/**
 * A value derived from the store and named by a version counter item. A read costs at most one
 * GetItem of the counter (none within `maxStalenessMs` of the last check), and the value is
 * loaded again only when the counter moved. Changes made by this process invalidate at once;
 * other instances' changes show within `maxStalenessMs`.
 */
export class VersionedCache<T> {
  private cached: Promise<T> | undefined;
  private cachedVersion: number | undefined;
  /** When the cached version was last confirmed against the store (monotonic ms). */
  private confirmedAt = -Infinity;

  constructor(
    private readonly readVersion: () => Promise<number>,
    private readonly load: (version: number) => Promise<T>,
    private readonly maxStalenessMs: number,
  ) {}

  async current(): Promise<T> {
    if (this.cached && performance.now() - this.confirmedAt < this.maxStalenessMs) return this.cached;
    const version = await this.readVersion();
    this.confirmedAt = performance.now();
    if (this.cached && this.cachedVersion === version) return this.cached;
    // The version first, then the data: a value may be newer than its version, never older.
    const loading = this.load(version);
    this.cached = loading;
    this.cachedVersion = version;
    loading.catch(() => {
      if (this.cached === loading) this.invalidate();
    });
    return loading;
  }

  /** Read the version again on next use (another instance may have changed it). */
  recheck(): void {
    this.confirmedAt = -Infinity;
  }

  /** Forget the cached value (this process just changed what it is derived from). */
  invalidate(): void {
    this.confirmedAt = -Infinity;
    this.cached = undefined;
    this.cachedVersion = undefined;
  }
}

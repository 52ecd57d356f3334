import { watch, type FSWatcher, existsSync } from 'node:fs';
import { loadPolicies } from './load.js';
import { PolicyLoadError } from './load-error.js';
import type { CompiledPolicySet } from './types.js';

export interface PolicyReloadStatus {
  version: string;
  loadedAt: Date;
  ruleCount: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  reloads: number;
  failedReloads: number;
}

/**
 * Holds the active compiled policy set. Reloads (file watch, SIGHUP, admin) swap it atomically;
 * a reload that fails validation is refused and the last good set stays active.
 */
export class PolicyHolder {
  private set: CompiledPolicySet;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<boolean> | null = null;
  private readonly status: PolicyReloadStatus;
  private readonly listeners: ((set: CompiledPolicySet) => void)[] = [];

  private constructor(
    private readonly path: string,
    initial: CompiledPolicySet,
    private readonly onError: (err: unknown) => void,
  ) {
    this.set = initial;
    this.status = {
      version: initial.version,
      loadedAt: new Date(),
      ruleCount: initial.ruleCount,
      lastError: null,
      lastErrorAt: null,
      reloads: 0,
      failedReloads: 0,
    };
  }

  /** Loads once; a start-up with invalid policies fails (there is no last good set yet). */
  static async load(path: string, onError: (err: unknown) => void = () => {}): Promise<PolicyHolder> {
    if (!existsSync(path))
      throw new PolicyLoadError([{ file: path, ruleId: null, path: '', message: 'no such file or folder' }]);
    return new PolicyHolder(path, await loadPolicies(path), onError);
  }

  /** Hot path: a field read. */
  current(): CompiledPolicySet {
    return this.set;
  }

  getStatus(): PolicyReloadStatus {
    return { ...this.status };
  }

  onChange(listener: (set: CompiledPolicySet) => void): void {
    this.listeners.push(listener);
  }

  /** Returns true when a new set is active (or the same files were reloaded), false when refused. */
  reload(): Promise<boolean> {
    this.reloading ??= (async () => {
      try {
        const next = await loadPolicies(this.path);
        this.set = next;
        this.status.version = next.version;
        this.status.loadedAt = new Date();
        this.status.ruleCount = next.ruleCount;
        this.status.reloads++;
        this.status.lastError = null;
        for (const l of this.listeners) l(next);
        return true;
      } catch (err) {
        this.status.failedReloads++;
        this.status.lastError = err instanceof Error ? err.message : String(err);
        this.status.lastErrorAt = new Date();
        this.onError(err);
        return false;
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  /**
   * Watches the folder (not the files): editors and Kubernetes ConfigMaps replace files by
   * rename or symlink swap, which a per-file watch would miss.
   */
  watch(debounceMs = 200): void {
    if (this.watcher) return;
    this.watcher = watch(this.path, { persistent: false }, () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), debounceMs);
      this.debounce.unref();
    });
    this.watcher.on('error', (err) => this.onError(err));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
  }
}

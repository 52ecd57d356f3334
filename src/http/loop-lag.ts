import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Event-loop lag for the load shedder, as an under-pressure `healthCheck`. The plugin's own
 * delay check turns an interval with no histogram sample into Infinity: a process descheduled
 * for one sample interval (a busy shared host) or a loop blocked across one timer tick shed
 * every request for the next interval, whatever the configured threshold. Here an interval
 * without samples is measured by how late this check itself ran, which is the lag it stands for.
 */
export class LoopLag {
  private readonly histogram: IntervalHistogram;
  private last = performance.now();
  /** The lag measured by the latest check, in ms. */
  lagMs = 0;

  constructor(
    private readonly thresholdMs: number,
    readonly intervalMs: number,
    private readonly resolutionMs = 10,
  ) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }

  /** True while the mean lag of the last interval is within the threshold. */
  healthy(): boolean {
    const now = performance.now();
    const late = Math.max(0, now - this.last - this.intervalMs);
    this.last = now;
    const mean = this.histogram.count > 0 ? this.histogram.mean / 1e6 - this.resolutionMs : late;
    this.histogram.reset();
    this.lagMs = Math.max(0, mean);
    return this.lagMs <= this.thresholdMs;
  }

  close(): void {
    this.histogram.disable();
  }
}

import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { PeriodicService } from '../../src/worker/service.js';

/** A pass that takes 50 ms and then plans the next one 10 s later. */
class SlowPass extends PeriodicService {
  readonly passes: number[] = [];
  private release: (() => void) | undefined;
  readonly firstPassRunning: Promise<void>;

  constructor() {
    super('test', createLogger('silent'));
    this.firstPassRunning = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  async runOnce(): Promise<number> {
    this.passes.push(Date.now());
    this.release?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return 10_000;
  }
}

describe('PeriodicService', () => {
  it('honours a wake-up asked for while a pass is running', async () => {
    const service = new SlowPass();
    service.start();
    await service.firstPassRunning;
    service.wakeWithin(20);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await service.stop();
    expect(service.passes.length).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { LazyAbort } from '../../src/worker/lazy-abort.js';

describe('LazyAbort', () => {
  it('gives a signal that is already aborted when read after the abort, with the first reason', () => {
    const abort = new LazyAbort();
    const first = new Error('timed out');
    abort.abort(first);
    abort.abort(new Error('later'));
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(first);
    expect(abort.reason).toBe(first);
  });

  it('aborts a signal that was read before the abort', () => {
    const abort = new LazyAbort();
    const { signal } = abort;
    expect(signal.aborted).toBe(false);
    abort.abort(new Error('lease lost'));
    expect(signal.aborted).toBe(true);
  });

  it('rejects a running race at once, and settles like the work otherwise', async () => {
    const hanging = new LazyAbort();
    const race = hanging.race(new Promise(() => undefined));
    hanging.abort(new Error('shutdown'));
    await expect(race).rejects.toThrow('shutdown');

    const fine = new LazyAbort();
    expect(await fine.race(Promise.resolve(42))).toBe(42);
    expect(await fine.race(7)).toBe(7);
    await expect(fine.race(Promise.reject(new Error('handler failed')))).rejects.toThrow('handler failed');
    // A promise-like from another promise library: only `then` is there.
    const thenable = { then: (resolve: (value: string) => void) => resolve('thenable') } as unknown as PromiseLike<string>;
    expect(await fine.race(thenable)).toBe('thenable');
  });

  it('refuses to start a race once aborted', async () => {
    const abort = new LazyAbort();
    abort.abort(new Error('gone'));
    await expect(abort.race(1)).rejects.toThrow('gone');
  });
});

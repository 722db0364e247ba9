/**
 * A small EventEmitter for runtimes without node:events (the browser client): on / addListener /
 * once / off / removeListener / removeAllListeners / emit / listenerCount, with Node's ordering
 * (listeners snapshot per emit; off(fn) also removes a once(fn)).
 */
type Listener = (...args: any[]) => void;
interface Entry { fn: Listener; once: boolean }

export class Emitter {
  #events = new Map<string | symbol, Entry[]>();

  on(event: string | symbol, fn: Listener): this {
    return this.#add(event, fn, false);
  }
  addListener(event: string | symbol, fn: Listener): this {
    return this.#add(event, fn, false);
  }
  once(event: string | symbol, fn: Listener): this {
    return this.#add(event, fn, true);
  }
  off(event: string | symbol, fn: Listener): this {
    const list = this.#events.get(event);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.fn === fn) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.#events.delete(event);
    return this;
  }
  removeListener(event: string | symbol, fn: Listener): this {
    return this.off(event, fn);
  }
  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this.#events.clear();
    else this.#events.delete(event);
    return this;
  }
  listenerCount(event: string | symbol): number {
    return this.#events.get(event)?.length ?? 0;
  }
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const list = this.#events.get(event);
    if (!list || list.length === 0) {
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(`unhandled 'error' event: ${String(args[0])}`);
      return false;
    }
    for (const entry of [...list]) {
      if (entry.once) this.off(event, entry.fn);
      entry.fn.apply(this, args);
    }
    return true;
  }
  #add(event: string | symbol, fn: Listener, once: boolean): this {
    const list = this.#events.get(event);
    if (list) list.push({ fn, once });
    else this.#events.set(event, [{ fn, once }]);
    return this;
  }
}

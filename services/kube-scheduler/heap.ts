/**
 * A binary heap of items keyed by string, with update and remove by key
 * (the role of kube-scheduler's internal/heap). Not thread-safe; all
 * operations O(log n) except has/get O(1).
 */
export class KeyedHeap<T> {
  private readonly items: { key: string; value: T }[] = [];
  private readonly index = new Map<string, number>();

  /** less(a, b): a comes out before b. */
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  get(key: string): T | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.items[i].value;
  }

  peek(): T | undefined {
    return this.items[0]?.value;
  }

  /** Adds, or replaces the value under key and restores the order. */
  set(key: string, value: T): void {
    const i = this.index.get(key);
    if (i !== undefined) {
      this.items[i].value = value;
      this.fix(i);
      return;
    }
    this.items.push({ key, value });
    this.index.set(key, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    if (this.items.length === 0) return undefined;
    const top = this.items[0];
    this.removeAt(0);
    return top.value;
  }

  delete(key: string): T | undefined {
    const i = this.index.get(key);
    if (i === undefined) return undefined;
    const v = this.items[i].value;
    this.removeAt(i);
    return v;
  }

  values(): T[] {
    return this.items.map((e) => e.value);
  }

  private removeAt(i: number): void {
    const last = this.items.length - 1;
    this.index.delete(this.items[i].key);
    if (i !== last) {
      this.items[i] = this.items[last];
      this.index.set(this.items[i].key, i);
    }
    this.items.pop();
    if (i < this.items.length) this.fix(i);
  }

  private fix(i: number): void {
    if (!this.up(i)) this.down(i);
  }

  private swap(i: number, j: number): void {
    const a = this.items[i];
    this.items[i] = this.items[j];
    this.items[j] = a;
    this.index.set(this.items[i].key, i);
    this.index.set(this.items[j].key, j);
  }

  private up(i: number): boolean {
    const start = i;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.items[i].value, this.items[parent].value)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i !== start;
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      let m = l;
      if (l + 1 < n && this.less(this.items[l + 1].value, this.items[l].value)) m = l + 1;
      if (!this.less(this.items[m].value, this.items[i].value)) return;
      this.swap(i, m);
      i = m;
    }
  }
}

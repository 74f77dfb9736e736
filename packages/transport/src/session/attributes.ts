// Session attributes (getty's Session.SetAttribute): typed by their key, cleared after the session closes.

/** A typed attribute key: `const kUser = new AttributeKey<User>('user')`; keys compare by identity. */
export class AttributeKey<T> {
  declare readonly _type: T;
  constructor(readonly name: string) {}
  toString(): string {
    return `AttributeKey(${this.name})`;
  }
}

export class Attributes {
  readonly #map = new Map<AttributeKey<unknown>, unknown>();
  get<T>(key: AttributeKey<T>): T | undefined {
    return this.#map.get(key) as T | undefined;
  }
  /** Returns the value, set from `init()` first if the key has none. */
  getOrSet<T>(key: AttributeKey<T>, init: () => T): T {
    if (this.#map.has(key)) return this.#map.get(key) as T;
    const v = init();
    this.#map.set(key, v);
    return v;
  }
  set<T>(key: AttributeKey<T>, value: T): void {
    this.#map.set(key, value);
  }
  has(key: AttributeKey<unknown>): boolean {
    return this.#map.has(key);
  }
  delete(key: AttributeKey<unknown>): boolean {
    return this.#map.delete(key);
  }
  get size(): number {
    return this.#map.size;
  }
  clear(): void {
    this.#map.clear();
  }
}

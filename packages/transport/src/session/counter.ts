// Counters that do not wrap at 4 GiB (getty's do): two numbers, the low 32 bits and what carried
// out of them, so that the hot path adds plain numbers and only stats() builds a bigint.
const TWO32 = 2 ** 32;

export class Counter64 {
  #lo = 0;
  #hi = 0;
  add(n: number): void {
    const lo = this.#lo + n;
    if (lo < TWO32) {
      this.#lo = lo;
    } else {
      const carry = Math.floor(lo / TWO32);
      this.#hi += carry;
      this.#lo = lo - carry * TWO32;
    }
  }
  get value(): bigint {
    return (BigInt(this.#hi) << 32n) + BigInt(this.#lo);
  }
}

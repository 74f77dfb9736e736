// fib: the demo method that runs in the worker pool (offloaded), CPU-heavy on purpose.

/** The n-th Fibonacci number, computed the slow way (about 10 ms for n = 30). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

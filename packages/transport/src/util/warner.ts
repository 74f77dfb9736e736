// Process warnings for errors nobody else takes (no onError hook, no diagnostics subscriber), rate
// limited: a flood of hostile peers must not flood the log. Each warner lets `burst` warnings through
// per `intervalMs`; the rest are counted and summed up in one warning when the interval ends.

export interface WarnerOptions {
  /** The warning's `code` (e.g. NOCOPY_HANDLER_ERROR). */
  code: string;
  /** The warning's `name`. Default 'NocopyWarning'. */
  type?: string;
  /** Warnings let through per interval. Default 10. */
  burst?: number;
  /** Default 10000 ms. */
  intervalMs?: number;
}

/** A function that turns an error into a rate-limited process warning. */
export type Warner = (error: unknown) => void;

export function createWarner(options: WarnerOptions): Warner {
  const { code } = options;
  const type = options.type ?? 'NocopyWarning';
  const burst = options.burst ?? 10;
  const interval = options.intervalMs ?? 10_000;
  let windowStart = 0;
  let sent = 0;
  let suppressed = 0;
  let timer: NodeJS.Timeout | null = null;
  const summarize = () => {
    timer = null;
    if (suppressed === 0) return;
    const n = suppressed;
    suppressed = 0;
    process.emitWarning(`${n} more warning(s) like the ones above were suppressed in the last ${Math.round(interval / 1000)} s`, { type, code });
  };
  return (error: unknown) => {
    const now = Date.now();
    if (now - windowStart >= interval) {
      windowStart = now;
      sent = 0;
    }
    if (sent < burst) {
      sent++;
      // A string message: Node ignores the type and code options when given an Error object.
      const e = error instanceof Error ? error : null;
      const errCode = (e as { code?: unknown } | null)?.code;
      const text = e !== null ? `${e.name}${typeof errCode === 'string' ? ` [${errCode}]` : ''}: ${e.message}` : String(error);
      process.emitWarning(text, { type, code, detail: e?.stack?.split('\n').slice(1).join('\n') });
      return;
    }
    suppressed++;
    timer ??= setTimeout(summarize, windowStart + interval - now).unref();
  };
}

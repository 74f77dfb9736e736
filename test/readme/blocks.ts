// The fenced code blocks of the READMEs, and what a test does with each kind.
//
// - ```ts / ```js: a complete program. It is typechecked (strict, as our own sources) and run; a
//   `console.log(...); // value` line states what it prints (compared, unless the comment starts
//   with "e.g.").
// - ```ts file=NAME / ```js file=NAME: a file the programs of the same README use (a worker module).
// - ```ts fragment: an excerpt or a signature, not a program; shown, not run.
// - ```sh: commands; each `npm run X`, `node PATH` and `npx BIN` must name something that exists.
// - anything else (```text, no language): output or prose.
import { readFileSync } from 'node:fs';

export type BlockKind = 'program' | 'file' | 'fragment' | 'shell' | 'text';

export interface Block {
  readme: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  kind: BlockKind;
  /** For kind 'file': the name to write it under. */
  file?: string;
  code: string;
}

export function blocksOf(readme: string): Block[] {
  const lines = readFileSync(readme, 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    if (i === lines.length) throw new Error(`${readme}:${start + 1}: unterminated code block`);
    const lang = open[1]!;
    const info = open[2]!.trim();
    const file = /^file=(\S+)$/.exec(info)?.[1];
    let kind: BlockKind;
    if (lang === 'ts' || lang === 'js') kind = info === 'fragment' ? 'fragment' : file !== undefined ? 'file' : 'program';
    else if (lang === 'sh') kind = 'shell';
    else kind = 'text';
    if ((kind === 'program' || kind === 'file') && info !== '' && file === undefined) {
      throw new Error(`${readme}:${start + 1}: unknown code block info "${info}"`);
    }
    out.push({ readme, line: start + 1, lang, kind, ...(file !== undefined ? { file } : {}), code: body.join('\n') + '\n' });
  }
  return out;
}

export interface Expectation {
  /** The source line that states it. */
  line: number;
  text: string;
}

/** The outputs a program states with `console.log(...); // value`, in order. */
export function expectedOutput(code: string): Array<Expectation | null> {
  const out: Array<Expectation | null> = [];
  code.split('\n').forEach((l, i) => {
    if (!/^\s*console\.log\(/.test(l)) return;
    const m = /\);\s*\/\/\s*(.*)$/.exec(l);
    // A log without a stated value, or with an example value, still takes its line of output.
    out.push(m === null || m[1]!.startsWith('e.g.') ? null : { line: i + 1, text: m[1]!.trim() });
  });
  return out;
}

/** The commands of a shell block, without comments and prompts. */
export function commandsOf(code: string): string[] {
  return code
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').replace(/^#.*$/, '').trim())
    .filter((l) => l !== '')
    .flatMap((l) => l.split(/\s*&&\s*/));
}

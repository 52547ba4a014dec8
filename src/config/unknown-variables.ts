import { AppConfig } from './app-config';

/**
 * Edit distance with adjacent transpositions (optimal string alignment), so the typos people
 * make (a letter missing, doubled, wrong or two swapped) each count one.
 */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * Two edits apart is a typo for a long name; for a four-letter one it is another word
 * (HOME is two edits from HOST), so short names only take one.
 */
const closeEnough = (name: string, known: string) =>
  editDistance(name, known) <= (known.length <= 5 ? 1 : 2);

/**
 * The server's own prefixes: a first word (MODEL_, JSON_, BATCH_, ...) that at least two known
 * names share. A word only one name has (ORT_ of ORT_INTRA_OP_THREADS, TFJS_) is also used by
 * other software (ONNX Runtime reads ORT_* itself), so it says nothing about who a variable is for.
 */
export function serverPrefixes(known: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const name of known) {
    const underscore = name.indexOf('_');
    if (underscore <= 0) continue;
    const prefix = name.slice(0, underscore + 1);
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1);
  }
  return [...counts].filter(([, count]) => count >= 2).map(([prefix]) => prefix);
}

/**
 * One warning per environment variable that looks meant for this server but is none of its
 * variables: it starts with one of the server's prefixes or is a typo of a known name
 * (MODEL_POLL_SECOND, model_dir). Such a variable is otherwise ignored without a word, and the
 * server runs with the default the user meant to change.
 */
export function unknownVariableWarnings(
  env: Record<string, string | undefined>,
  known: readonly string[] = Object.keys(new AppConfig()),
): string[] {
  const knownSet = new Set(known);
  const prefixes = serverPrefixes(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (knownSet.has(name)) continue;
    const upper = name.toUpperCase();
    const closest =
      known
        .filter((candidate) => closeEnough(upper, candidate))
        .sort((a, b) => editDistance(upper, a) - editDistance(upper, b))[0] ??
      // The unit left out: SHUTDOWN_DELAY for SHUTDOWN_DELAY_MS.
      known.find((candidate) => candidate.startsWith(`${upper}_`));
    if (closest) warnings.push(`Unknown variable ${name}; did you mean ${closest}?`);
    else if (prefixes.some((prefix) => upper.startsWith(prefix))) {
      warnings.push(`Unknown variable ${name}`);
    }
  }
  return warnings;
}

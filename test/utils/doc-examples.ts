import { execFile } from 'node:child_process';

/** One shell command of the docs (continuation lines joined) and what its comment promises. */
export interface Example {
  /** The page it comes from, relative to the repository root. */
  page: string;
  command: string;
  /** The status the next comment line gives (`# 400 {...}`), else 200. */
  status: number;
  /** The first key of the JSON answer the comment shows, when it shows one. */
  firstKey?: string;
}

/**
 * Whether a block runs against the shipped models as a default server serves them. Walkthroughs
 * that change the model repository first (hot reload, saving a model) or serve another one
 * (MODEL_DIR=...) have tests of their own that play them out: hot-reload-readme,
 * save-your-model, onnx (the Silero request through V2) and repository-docs.
 */
export const runAgainstShippedModels = (block: string) =>
  !/npx ts-node|cp -r |MODEL_DIR=/.test(block);

/**
 * The commands of a page's bash blocks that `runs` takes, cut as written: a line continues while
 * it ends in a backslash or leaves a single quote open (`-d '{` on one line, `}'` on a later
 * one). They stay in page order, since a block may write a file a later command sends.
 */
export function pageExamples(
  page: string,
  text: string,
  runs: (block: string) => boolean = runAgainstShippedModels,
): Example[] {
  const blocks = [...text.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
  const examples: Example[] = [];
  for (const block of blocks) {
    if (!/localhost:3000|\$INGRESS/.test(block) || !runs(block)) continue;
    const lines = block.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^(curl|node -e) /.test(lines[i])) continue;
      let command = lines[i];
      while (/\\$/.test(command) || (command.split("'").length - 1) % 2 === 1) {
        command = `${command}\n${lines[++i]}`;
      }
      const comment = lines.slice(i + 1).find((line) => /^#|^(curl|node) /.test(line)) ?? '';
      const said = /^# (?:(\d{3}) )?(\{"(\w+)")?/.exec(comment);
      examples.push({
        page,
        command,
        status: said?.[1] ? Number(said[1]) : 200,
        firstKey: said?.[3],
      });
    }
  }
  return examples;
}

/** What a docs command answered, run with curl as written against `url`. */
export interface ExampleAnswer {
  status: number;
  body: string;
}

/** Runs one command of a walkthrough page with bash and curl, `localhost:3000` pointed at `url` (`http://...`). */
export function runExample(example: Example, url: string): Promise<ExampleAnswer> {
  const script = `curl() { command curl -w '\\n%{http_code}\\n' "$@"; }\n${example.command.replaceAll('http://localhost:3000', url).replaceAll('localhost:3000', url)}`;
  return new Promise((resolve, reject) =>
    execFile('bash', ['-c', script], { timeout: 20_000 }, (error, stdout) => {
      if (error) return reject(error);
      const out = stdout.trimEnd().split('\n');
      const status = Number(out.pop());
      resolve({ status, body: out.join('\n') });
    }),
  );
}

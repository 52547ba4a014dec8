import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The patterns of .dockerignore (comments and blank lines dropped). */
const patterns = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

/** Whether .dockerignore drops `path` (plain names and `*.ext` globs, the only forms it uses). */
const ignored = (path: string) =>
  patterns.some((pattern) => {
    const first = path.split('/')[0];
    if (pattern.startsWith('*.')) return path.endsWith(pattern.slice(1));
    if (pattern.endsWith('*')) return first.startsWith(pattern.slice(0, -1));
    return first === pattern || path === pattern;
  });

/** The build context stays small, and keeps every file deploy/Dockerfile copies from it. */
describe('.dockerignore', () => {
  it('should keep every file deploy/Dockerfile copies from the build context', () => {
    const copied = [...read('deploy/Dockerfile').matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap(
      ([, args]) => args.trim().split(/\s+/).slice(0, -1),
    );
    expect(copied).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.build.json', 'src']),
    );
    expect(copied.filter(ignored)).toEqual([]);
  });

  it('should leave out what the image rebuilds or never needs', () => {
    for (const path of ['node_modules', 'dist', '.git', 'test', 'coverage', 'x.tsbuildinfo']) {
      expect(ignored(path)).toBe(true);
    }
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  anchorsOf,
  brokenLinks,
  docPages,
  githubSlug,
  linksOf,
  pagesLinkedFrom,
  REPO_ROOT,
} from './utils/doc-links';

/** The README and docs/ as they are on disk: offline, no server. */
describe('README.md and docs/*.md links (e2e)', () => {
  const pages = new Map(
    docPages().map((page) => [page, readFileSync(join(REPO_ROOT, page), 'utf8')] as const),
  );
  const readme = pages.get('README.md')!;

  it('should have no broken relative link or #anchor', () => {
    expect(brokenLinks(pages)).toEqual([]);
  });

  it('should link every docs page from the README', () => {
    const linked = pagesLinkedFrom('README.md', readme);
    const docs = [...pages.keys()].filter((page) => page.startsWith('docs/'));
    expect(docs.length).toBeGreaterThanOrEqual(8);
    expect(docs.filter((page) => !linked.has(page))).toEqual([]);
  });

  it('should keep the README at most 260 lines', () => {
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(260);
  });
});

describe('The docs link checker', () => {
  it("should slug headings by GitHub's rules", () => {
    expect(githubSlug('TensorFlow Serving REST API (`/v1`)')).toBe(
      'tensorflow-serving-rest-api-v1',
    );
    expect(githubSlug('Measured: TF.js (wasm) vs ONNX Runtime')).toBe(
      'measured-tfjs-wasm-vs-onnx-runtime',
    );
    expect(githubSlug('`:classify` and `:regress`')).toBe('classify-and-regress');
    expect(githubSlug('snake_case and kebab-case')).toBe('snake_case-and-kebab-case');
    expect(githubSlug('See [the docs](docs/x.md)')).toBe('see-the-docs');
  });

  it('should number repeated headings and ignore # lines in code blocks', () => {
    const anchors = anchorsOf('# Title\n## Usage\n```bash\n# not a heading\n```\n## Usage\n');
    expect([...anchors]).toEqual(['title', 'usage', 'usage-1']);
  });

  it('should read links outside code, not inside code spans or fences', () => {
    const text = 'See [a](a.md) and `[b](b.md)`.\n```\n[c](c.md)\n```\n[d](d.md#x "title")\n';
    expect(linksOf(text)).toEqual([
      { target: 'a.md', line: 1 },
      { target: 'd.md#x', line: 5 },
    ]);
  });

  it('should report a missing page, a missing file, a missing anchor and a bad anchor on a linked page', () => {
    const pages = new Map([
      [
        'README.md',
        [
          '# Server',
          '[ok](docs/guide.md#set-up) [ok](#server) [ok](package.json) [ok](https://example.com/x)',
          '[gone](docs/gone.md) [file](src/nothing-here.ts)',
          '[anchor](#nowhere) [other](docs/guide.md#tear-down)',
        ].join('\n'),
      ],
      [
        'docs/guide.md',
        '# Guide\n## Set up\n[back](../README.md#server) [bad](../README.md#client)\n',
      ],
    ]);
    expect(brokenLinks(pages)).toEqual([
      'README.md:3: docs/gone.md (no file docs/gone.md)',
      'README.md:3: src/nothing-here.ts (no file src/nothing-here.ts)',
      'README.md:4: #nowhere (no heading #nowhere in README.md)',
      'README.md:4: docs/guide.md#tear-down (no heading #tear-down in docs/guide.md)',
      'docs/guide.md:3: ../README.md#client (no heading #client in README.md)',
    ]);
  });

  it('should say which docs pages a page links to', () => {
    expect(
      pagesLinkedFrom('README.md', '[a](docs/a.md#x) [b](./docs/b.md) [w](https://x.y/c.md)'),
    ).toEqual(new Set(['docs/a.md', 'docs/b.md']));
  });
});

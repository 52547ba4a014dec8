import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');

/** README.md, then every page of docs/, sorted: the pages the docs tests read. */
export function docPages(root = REPO_ROOT): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** The markdown's lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    else if (!fenced) lines.push({ text, line: i + 1 });
  });
  return lines;
}

/**
 * The anchor GitHub gives a heading: its text lowercased, every character that is not a letter,
 * a digit, a space, '-' or '_' removed, each space turned into '-'. A link in the heading counts
 * by its text only.
 */
export function githubSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers; a repeated heading gets -1, -2, ... as on GitHub. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const slug = githubSlug(heading[1]);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The targets of a page's markdown links, outside code blocks and inline code. */
export function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      links.push({ target: match[1], line });
    }
  }
  return links;
}

/**
 * Every relative link or anchor that leads nowhere, as `page:line: target (why)`. `pages` maps a
 * path relative to the repository root to its markdown; a link to a markdown page among them has
 * its anchor checked against that page's headings, any other path must exist under `root`.
 * External links (a scheme such as https: or mailto:) are not checked: the test runs offline.
 */
export function brokenLinks(pages: Map<string, string>, root = REPO_ROOT): string[] {
  const broken: string[] = [];
  for (const [page, markdown] of pages) {
    for (const { target, line } of linksOf(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const hash = target.indexOf('#');
      const path = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const resolved = path === '' ? page : normalize(join(dirname(page), path));
      const where = `${page}:${line}: ${target}`;
      const text = pages.get(resolved);
      if (text === undefined) {
        if (!existsSync(join(root, resolved))) broken.push(`${where} (no file ${resolved})`);
        else if (anchor && resolved.endsWith('.md')) {
          const other = readFileSync(join(root, resolved), 'utf8');
          if (!anchorsOf(other).has(anchor))
            broken.push(`${where} (no heading #${anchor} in ${resolved})`);
        }
        continue;
      }
      if (anchor !== undefined && !anchorsOf(text).has(anchor)) {
        broken.push(`${where} (no heading #${anchor} in ${resolved})`);
      }
    }
  }
  return broken;
}

/** The docs pages (as paths relative to the root) that a page links to. */
export function pagesLinkedFrom(page: string, markdown: string): Set<string> {
  return new Set(
    linksOf(markdown)
      .filter(({ target }) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map(({ target }) => normalize(join(dirname(page), target.split('#')[0]))),
  );
}

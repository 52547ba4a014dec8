import { dirname, resolve, sep } from 'node:path';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `message` with every path inside the model repository written relative to it
 * (`/srv/models/iris/2/model.json` -> `iris/2/model.json`), found from one version folder
 * (`<MODEL_DIR>/<name>/<version>`). Load errors reach clients through the status endpoints: they
 * learn which version failed and why, not where the server keeps its files. Both spellings of the
 * root are replaced, as configured (relative to the working directory) and absolute, since the
 * engines report paths either way; only at the start of a path, so a folder named like the root
 * deeper down is left alone.
 */
export function relativeToRepository(message: string, versionDir: string): string {
  const root = dirname(dirname(versionDir));
  const prefixes = [...new Set([resolve(root), root])].map((p) => (p.endsWith(sep) ? p : p + sep));
  return prefixes.reduce(
    (text, prefix) => text.replace(new RegExp(`(^|[\\s'"(:=])${escapeRegExp(prefix)}`, 'g'), '$1'),
    message,
  );
}

import { readFileSync } from 'node:fs';

/**
 * Renders `{{name}}` placeholders. A placeholder without a value is a bug in the construct, not
 * something to ship half-filled: it throws, naming the template and the missing names.
 */
export function renderTemplate(text: string, values: Readonly<Record<string, string | number>>, source = 'template'): string {
  const missing = new Set<string>();
  const out = text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, key: string) => {
    if (!(key in values)) {
      missing.add(key);
      return '';
    }
    return String(values[key]);
  });
  if (missing.size > 0) throw new Error(`${source}: no value for ${[...missing].join(', ')}; pass them to renderTemplate`);
  return out;
}

/** Reads a template next to the calling module (`import.meta.url`) and renders it. */
export function renderFile(base: string | URL, relativePath: string, values: Readonly<Record<string, string | number>>): string {
  const url = new URL(relativePath, base);
  return renderTemplate(readFileSync(url, 'utf8'), values, relativePath);
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Placeholder replaced below. */
import type { LabResult } from './results.js';
export function renderLabHtml(result: LabResult): string {
  return `<pre>${JSON.stringify(result, null, 2)}</pre>`;
}

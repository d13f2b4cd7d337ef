// Draws stored sheets into a PDF. Generate and reprint both come through here, so a reprinted
// sheet is drawn by exactly the code that drew the original. Generate draws the two sides at once,
// each in its own worker thread (two cores, two documents); each worker reads only its side's folder.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { CODES_STORE, ENVELOPES_STORE, readCodesStore, readEnvelopesStore, type Side } from './outputs.js';
import { renderCodeSheets, renderEnvelopeSheets, type SheetPosition } from './pdf.js';

/** Which sheets to draw: all of them, a whole batch, or one sheet of a batch. */
export interface SheetSelection {
  readonly batch?: number;
  readonly sheet?: number;
}

const selected = (selection: SheetSelection) => (s: SheetPosition) =>
  (selection.batch === undefined || s.batch === selection.batch) && (selection.sheet === undefined || s.sheet === selection.sheet);

/** Renders the selected sheets of one side's folder into `file`; resolves to the number drawn. */
export async function renderStoredSheets(side: Side, folder: string, file: string, selection: SheetSelection = {}, onSheet?: (s: SheetPosition) => void): Promise<number> {
  const keep = selected(selection);
  if (side === 'codes') {
    const store = readCodesStore(folder);
    const voided = new Set(store.voided);
    const sheets = store.sheets.filter(keep).map((s) => ({ ...s, codes: s.codes.map((c) => (c !== null && voided.has(c) ? null : c)) }));
    await renderCodeSheets(file, sheets, store.card, onSheet);
    return sheets.length;
  }
  const store = readEnvelopesStore(folder);
  const sheets = store.sheets.filter(keep);
  await renderEnvelopeSheets(file, sheets, store.envelope, onSheet);
  return sheets.length;
}

const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_ENTRY = new URL('./render-worker.ts', import.meta.url).href;

export interface WorkerJob {
  readonly side: Side;
  readonly folder: string;
  readonly file: string;
}

/**
 * The same rendering in a worker thread. Its heap is capped: pdfkit leaves a lot of short-lived
 * garbage, and a capped heap collects it instead of growing (peak memory is a target).
 */
export function renderInWorker(job: WorkerJob, onSheet?: (s: SheetPosition) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    // Node 20 will not start a worker from a .ts file, even under tsx: the worker starts as a
    // small script that registers tsx, then imports the TypeScript entry.
    const bootstrap = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_ENTRY)}); })`;
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    worker.on('message', (m: SheetPosition) => onSheet?.(m));
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rendering ${join(job.folder, job.side === 'codes' ? CODES_STORE : ENVELOPES_STORE)} stopped (worker exit ${code})`))));
  });
}

// Draws stored sheets into a PDF. Generate and reprint both come through here, so a reprinted
// sheet is drawn by exactly the code that drew the original. Generate draws the two sides at once,
// each in its own worker thread (two cores, two documents); each worker reads only its side's folder.
import { Worker } from 'node:worker_threads';
import { InputError } from '../core/errors.js';
import { readCodesStore, readEnvelopesStore, type Side, type StoreInput } from './outputs.js';
import type { SheetPosition } from './pdf.js';

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
  // pdfkit and the fonts load only in the processes and workers that draw.
  const { renderCodeSheets, renderEnvelopeSheets } = await import('./pdf.js');
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
const WORKER_ENTRY = new URL('./worker.ts', import.meta.url).href;

/** Work done in a worker thread: preparing the stores, or drawing one side from its folder. */
export type WorkerJob =
  | { readonly task: 'prepare'; readonly input: StoreInput }
  | { readonly task: 'render'; readonly side: Side; readonly folder: string; readonly file: string };

/** What a worker posts: a sheet drawn, its result, or bad input (exit 2, not a crash). */
export type WorkerMessage = { readonly sheet: SheetPosition } | { readonly result: unknown } | { readonly inputError: string };

/**
 * Runs a job in a worker thread and resolves to its result. Generate prepares in one worker, then
 * draws the two sides in two more, at once: each worker's memory is returned when it ends, and its
 * heap is capped, so pdfkit's short-lived garbage is collected instead of growing the process.
 */
export function runWorker(job: WorkerJob, onSheet?: (s: SheetPosition) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // Node 20 will not start a worker from a .ts file, even under tsx: the worker starts as a
    // small script that registers tsx, then imports the TypeScript entry.
    const bootstrap = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_ENTRY)}); })`;
    const worker = new Worker(bootstrap, { eval: true, workerData: job, resourceLimits: { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: 32 } });
    let result: unknown;
    let inputError: string | undefined;
    worker.on('message', (m: WorkerMessage) => {
      if ('sheet' in m) onSheet?.(m.sheet);
      else if ('result' in m) result = m.result;
      else inputError = m.inputError;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (inputError !== undefined) reject(new InputError(inputError));
      else if (code === 0) resolve(result);
      else reject(new Error(`the ${job.task === 'render' ? `${job.side} renderer` : 'preparation'} worker stopped (exit ${code})`));
    });
  });
}

// Worker thread entry: renders one side from its folder (see renderInWorker in render.ts) and
// reports each batch's first sheet for the progress line.
import { parentPort, workerData } from 'node:worker_threads';
import { renderStoredSheets, type WorkerJob } from './render.js';

const job = workerData as WorkerJob;
await renderStoredSheets(job.side, job.folder, job.file, {}, (s) => {
  if (s.sheet === s.sheetsInBatch) parentPort?.postMessage({ batch: s.batch, sheet: s.sheet, sheetsInBatch: s.sheetsInBatch });
});

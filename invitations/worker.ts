// Worker thread entry (see runWorker in render.ts): prepares the stores, or draws one side and
// reports the last sheet of each batch for the progress line.
import { parentPort, workerData } from 'node:worker_threads';
import { InputError } from '../core/errors.js';
import { writeStores } from './outputs.js';
import { renderStoredSheets, type WorkerJob, type WorkerMessage } from './render.js';

const job = workerData as WorkerJob;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
try {
  if (job.task === 'prepare') {
    post({ result: writeStores(job.input) });
  } else {
    await renderStoredSheets(job.side, job.folder, job.file, {}, (s) => {
      if (s.sheet === s.sheetsInBatch) post({ sheet: { batch: s.batch, sheet: s.sheet, sheetsInBatch: s.sheetsInBatch } });
    });
  }
} catch (err) {
  if (!(err instanceof InputError)) throw err;
  post({ inputError: err.message });
}

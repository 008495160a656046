// After a crash the log may end in a torn frame. Before appending again the pod cuts the file
// at the last whole frame and sets aside any later file, so the next reader does not stop at the
// old tear and miss what is written after it.

import { rename, truncate } from 'node:fs/promises';
import type { WalProblem } from './walReader.js';

export async function repairWalTail(problem: WalProblem): Promise<void> {
  await truncate(problem.path, problem.offsetBytes);
  for (const path of problem.laterFiles) await rename(path, `${path}.dropped`);
}

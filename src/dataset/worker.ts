/** Worker-thread entry of the dataset generator: renders and writes the patches it is handed. */
import { serveTasks } from '../parallel/pool.ts';
import type { DatasetConfig } from './config.ts';
import { makePatchHandler, type PatchResult, type PatchTask } from './patch-file.ts';

serveTasks<PatchTask, PatchResult>((data) => {
  const { dir, config } = data as { dir: string; config: DatasetConfig };
  return makePatchHandler(dir, config);
});

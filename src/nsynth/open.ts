/**
 * One entry point for both official NSynth forms: a jsonwav folder or a `.tfrecord` file give the
 * same stream (same notes, same order, same kinds of skips).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { openJsonwav } from './jsonwav.ts';
import { NsynthError, type NsynthFilters, type NsynthReader } from './meta.ts';
import { openTfrecord } from './tfrecord.ts';

/**
 * Opens an NSynth split, detecting its form: a folder is read as jsonwav (it must hold
 * examples.json), a file as TFRecord. Throws an NsynthError (one line, naming the path) when the
 * path is neither; when a folder lacks examples.json but holds `nsynth-*` folders (what
 * `fetch-nsynth` extracts), the message names them.
 *
 * @param datasetPath folder or `.tfrecord` file.
 * @param filters families, sources, pitch range, limit.
 */
export async function openNsynth(datasetPath: string, filters: NsynthFilters = {}): Promise<NsynthReader> {
  const abs = path.resolve(datasetPath);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NsynthError(`${abs}: ${code === 'ENOENT' ? 'not found' : `cannot be read (${code})`}`);
  }
  if (!isDir) return openTfrecord(abs, filters);
  try {
    await stat(path.join(abs, 'examples.json'));
  } catch {
    const inner = (await readdir(abs, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.name.startsWith('nsynth-') && (d.isDirectory() || d.name.endsWith('.tfrecord')))
      .map((d) => d.name)
      .sort();
    const hint = inner.length > 0 ? ` (did you mean ${inner.map((n) => path.join(abs, n)).join(' or ')}?)` : ' (an NSynth jsonwav folder holds examples.json and audio/)';
    throw new NsynthError(`${path.join(abs, 'examples.json')}: not found${hint}`);
  }
  return openJsonwav(abs, filters);
}

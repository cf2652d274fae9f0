/**
 * Evaluator worker: for each note, re-render the snapped patch(es) at 16 kHz and measure the four
 * distances (spec §5) of the resynthesis and of both baselines (spec §6) against the note.
 */
import { serveTasks } from '../parallel/pool.ts';
import type { DatasetConfig } from '../dataset/config.ts';
import { makeNoteEvaluator, type NoteEvalResult, type NoteEvalTask } from './resynth.ts';

serveTasks<NoteEvalTask, NoteEvalResult>((data) => makeNoteEvaluator(data as DatasetConfig));

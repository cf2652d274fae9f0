/**
 * The report folder replaced whole (src/report/report-folder.ts): what counts as a previous report,
 * that nothing a report did not write is ever removed, the temporary folders, and the rollback when
 * the new report cannot be put in place.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { checkReportFolder, isMountPoint, isWithinFolder, mountPointsOf, realReportPath, REPORT_FORMAT, REPORT_MARKER, replaceReportFolder } from '../src/report/report-folder.ts';
import { tempDir } from './helpers.ts';

const root = tempDir('fmmatch-report-folder-test-');
let serial = 0;
/** A fresh, empty folder under `root`. */
function fresh(): string {
  const d = path.join(root, `case-${++serial}`);
  mkdirSync(d);
  return d;
}

/** Every file and folder under `dir` with each file's content: what "left untouched" compares. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(path.join(dir, prefix)).sort()) {
    const rel = path.join(prefix, name);
    const full = path.join(dir, rel);
    if (lstatSync(full).isDirectory()) {
      out[`${rel}/`] = '';
      Object.assign(out, snapshot(dir, rel));
    } else {
      out[rel] = readFileSync(full, 'utf8');
    }
  }
  return out;
}

/** Writes what a small report writes (the files named), as `writeReport` and --write-audio do. */
function writer(files: readonly string[], tag: string): (into: string) => Promise<string> {
  return async (into) => {
    for (const f of files) {
      mkdirSync(path.dirname(path.join(into, f)), { recursive: true });
      writeFileSync(path.join(into, f), `${tag} ${f}`);
    }
    return tag;
  };
}
/**
 * A run into `dir` during which a user's file arrives there: it must be refused with the finished
 * report kept (returned with the error) and the user's file left as it is.
 */
async function runWithArrival(dir: string): Promise<{ tmp: string; error: Error }> {
  let tmp = '';
  const error = await replaceReportFolder(dir, async (into) => {
    tmp = into;
    writeFileSync(path.join(into, 'notes.csv'), 'new');
    writeFileSync(path.join(dir, 'arrived.txt'), 'during the run');
  }).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(error, 'the run should have been refused');
  assert.equal(readFileSync(path.join(tmp, 'notes.csv'), 'utf8'), 'new');
  assert.equal(readFileSync(path.join(dir, 'arrived.txt'), 'utf8'), 'during the run');
  return { tmp, error };
}
/** Real renames, except the calls (counted from 1) that `fails` picks, which throw `message`. */
function failingRenames(fails: (call: number) => boolean, message: string): { renameSync: (from: string, to: string) => void } {
  let calls = 0;
  return {
    renameSync: (from, to) => {
      if (fails(++calls)) throw new Error(message);
      renameSync(from, to);
    },
  };
}
const REPORT_FILES = ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html', 'brass.csv', 'brass.html', 'audio/brass_acoustic_006-060-100.cnn.wav'];

describe('replaceReportFolder', () => {
  it('lists what it wrote in the marker, replaces its own report whole, and leaves no temporary folder', async () => {
    const parent = fresh();
    const dir = path.join(parent, 'run');
    assert.equal(await replaceReportFolder(dir, writer(REPORT_FILES, 'first')), 'first');
    const marker = JSON.parse(readFileSync(path.join(dir, REPORT_MARKER), 'utf8')) as { format: string; files: string[] };
    assert.equal(marker.format, REPORT_FORMAT);
    // The writer's own list, folders included: an independent account of what the report holds.
    assert.deepEqual([...marker.files].sort(), [...REPORT_FILES, 'audio/'].sort());
    assert.equal(checkReportFolder(dir), 'report');
    await replaceReportFolder(dir, writer(['notes.csv', 'summary.csv', 'skipped.csv', 'index.html', 'flute.csv'], 'second'));
    assert.deepEqual(readdirSync(dir).sort(), [REPORT_MARKER, 'flute.csv', 'index.html', 'notes.csv', 'skipped.csv', 'summary.csv']);
    assert.equal(readFileSync(path.join(dir, 'notes.csv'), 'utf8'), 'second notes.csv');
    assert.deepEqual(readdirSync(parent), ['run'], 'a temporary or old folder was left beside the report');
  });

  it('refuses a report that also holds another report or a user file, and leaves it untouched', async () => {
    for (const extra of ['other-run/', 'my-notes.txt', 'audio/mine.txt']) {
      const dir = path.join(fresh(), 'reports');
      await replaceReportFolder(dir, writer(REPORT_FILES, 'old'));
      if (extra === 'other-run/') {
        // What `eval-nsynth --out reports/<run>` leaves inside an earlier `--out reports`.
        await replaceReportFolder(path.join(dir, 'other-run'), writer(REPORT_FILES, 'inner'));
      } else {
        writeFileSync(path.join(dir, extra), 'keep me');
      }
      const before = snapshot(dir);
      const shown = extra.replace(/\/$/, '');
      assert.throws(() => checkReportFolder(dir), (e: Error) => e.message.startsWith(`${dir}: `) && e.message.includes(`holds ${shown},`) && !e.message.includes('\n'));
      let wrote = false;
      await assert.rejects(
        replaceReportFolder(dir, async () => {
          wrote = true;
        }),
        (e: Error) => e.message.startsWith(`${dir}: `) && e.message.includes(shown),
      );
      assert.equal(wrote, false, 'the report was written although the folder is refused');
      assert.deepEqual(snapshot(dir), before, `${extra}: the folder was changed`);
      assert.deepEqual(readdirSync(path.dirname(dir)), ['reports']);
    }
  });

  it('a marker cannot make a user file or a symbolic link removable by listing it', async () => {
    // A copied or edited marker listing a user's file: the file is not a name a report writes.
    const copied = fresh();
    writeFileSync(path.join(copied, 'thesis.tex'), 'keep me');
    writeFileSync(path.join(copied, 'notes.csv'), 'mine');
    writeFileSync(path.join(copied, REPORT_MARKER), JSON.stringify({ format: REPORT_FORMAT, files: ['thesis.tex', 'notes.csv'] }));
    const before = snapshot(copied);
    assert.throws(() => checkReportFolder(copied), /holds thesis\.tex,/);
    await assert.rejects(replaceReportFolder(copied, writer(['notes.csv'], 'new')), /thesis\.tex/);
    assert.deepEqual(snapshot(copied), before);
    // A marker listing `audio@`: a symbolic link named audio stays foreign.
    const linked = fresh();
    const elsewhere = fresh();
    writeFileSync(path.join(elsewhere, 'x.cnn.wav'), 'keep me');
    symlinkSync(elsewhere, path.join(linked, 'audio'));
    writeFileSync(path.join(linked, 'notes.csv'), 'old');
    writeFileSync(path.join(linked, REPORT_MARKER), JSON.stringify({ format: REPORT_FORMAT, files: ['notes.csv', 'audio@'] }));
    assert.throws(() => checkReportFolder(linked), /holds audio, which no report writes/);
    assert.equal(readFileSync(path.join(elsewhere, 'x.cnn.wav'), 'utf8'), 'keep me');
  });

  it('recognises older reports by what they hold, and refuses them too when they hold anything else', async () => {
    // From before the marker: the four files, family files, --write-audio's WAVs.
    const legacy = path.join(fresh(), 'legacy');
    mkdirSync(path.join(legacy, 'audio'), { recursive: true });
    for (const f of REPORT_FILES) writeFileSync(path.join(legacy, f), 'old');
    assert.equal(checkReportFolder(legacy), 'report');
    writeFileSync(path.join(legacy, 'mine.csv'), 'keep me');
    assert.throws(() => checkReportFolder(legacy), /holds mine\.csv,/);
    rmSync(path.join(legacy, 'mine.csv'));
    await replaceReportFolder(legacy, writer(['notes.csv'], 'new'));
    assert.deepEqual(readdirSync(legacy).sort(), [REPORT_MARKER, 'notes.csv']);

    // A marker without a list of files (before it had one), holding another report in a subfolder.
    const unlisted = path.join(fresh(), 'reports');
    mkdirSync(path.join(unlisted, 'cnn_on_nsynth-test'), { recursive: true });
    for (const f of ['notes.csv', 'index.html']) writeFileSync(path.join(unlisted, f), 'old');
    writeFileSync(path.join(unlisted, REPORT_MARKER), JSON.stringify({ format: REPORT_FORMAT }));
    writeFileSync(path.join(unlisted, 'cnn_on_nsynth-test', 'notes.csv'), 'inner');
    const before = snapshot(unlisted);
    await assert.rejects(replaceReportFolder(unlisted, writer(['notes.csv'], 'new')), /reports: an eval-nsynth report, but it also holds cnn_on_nsynth-test,/);
    assert.deepEqual(snapshot(unlisted), before);

    // A folder that is no report at all: the first entry named.
    const other = fresh();
    writeFileSync(path.join(other, 'params.csv'), 'x');
    assert.throws(() => checkReportFolder(other), /not empty and not an eval-nsynth report \(no eval-nsynth\.json; it holds params\.csv\)/);
  });

  it('writes in a fresh temporary folder: a folder named as the old ones were (by process id) is not touched', async () => {
    const parent = fresh();
    const dir = path.join(parent, 'run');
    const kept = path.join(parent, `.run.eval-nsynth-${process.pid}.tmp`);
    mkdirSync(kept);
    writeFileSync(path.join(kept, 'notes.csv'), 'a report kept after a failure');
    await replaceReportFolder(dir, writer(['notes.csv'], 'new'));
    assert.equal(readFileSync(path.join(kept, 'notes.csv'), 'utf8'), 'a report kept after a failure');
    // A write that fails removes its own temporary folder and nothing else.
    await assert.rejects(
      replaceReportFolder(dir, async () => {
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.deepEqual(readdirSync(parent).sort(), [kept, dir].map((p) => path.basename(p)).sort());
    assert.equal(readFileSync(path.join(dir, 'notes.csv'), 'utf8'), 'new notes.csv');
  });

  it('keeps the finished report, named, when the folder became foreign during the run', async () => {
    const dir = path.join(fresh(), 'run');
    await replaceReportFolder(dir, writer(['notes.csv'], 'old'));
    const { tmp, error } = await runWithArrival(dir);
    assert.ok(error.message.includes('holds arrived.txt') && error.message.endsWith(`this run's report was left in ${tmp}`), error.message);
  });

  it('puts the previous report back, and names both folders, when the new one cannot be moved in', async () => {
    const dir = path.join(fresh(), 'run');
    await replaceReportFolder(dir, writer(REPORT_FILES, 'old'));
    const before = snapshot(dir);
    // The second rename (the new report into place) fails; the rest are real.
    const failSecond = failingRenames((call) => call === 2, 'EXDEV: simulated');
    let tmp = '';
    await assert.rejects(
      replaceReportFolder(dir, async (into) => {
        tmp = into;
        await writer(['notes.csv'], 'new')(into);
      }, {}, failSecond),
      (e: Error) => e.message === `${dir}: could not move this run's report there (EXDEV: simulated); the previous report is back at ${dir}, this run's is in ${tmp}`,
    );
    assert.deepEqual(snapshot(dir), before, 'the previous report is not back as it was');
    assert.equal(readFileSync(path.join(tmp, 'notes.csv'), 'utf8'), 'new notes.csv');
    rmSync(tmp, { recursive: true });

    // And when the way back fails as well, both places are named and nothing is removed.
    const failFromSecond = failingRenames((call) => call >= 2, 'EIO: simulated');
    await assert.rejects(
      replaceReportFolder(dir, async (into) => {
        tmp = into;
        await writer(['notes.csv'], 'new')(into);
      }, {}, failFromSecond),
      (e: Error) => e.message === `${dir}: could not move this run's report there (EIO: simulated) nor the previous report back (EIO: simulated); the previous report is in ${tmp}.old, this run's in ${tmp}`,
    );
    assert.deepEqual(snapshot(`${tmp}.old`), before);
    assert.ok(existsSync(path.join(tmp, 'notes.csv')) && !existsSync(dir));
  });
});

describe('replaceReportFolder into an empty folder', () => {
  it('fills the folder itself: same folder (inode), mode kept, marker present, nothing hidden left', async () => {
    const dir = fresh();
    chmodSync(dir, 0o750);
    const before = statSync(dir);
    assert.equal(checkReportFolder(dir), 'empty');
    assert.equal(await replaceReportFolder(dir, writer(REPORT_FILES, 'first')), 'first');
    const after = statSync(dir);
    assert.equal(after.ino, before.ino, 'the folder was replaced, not filled');
    assert.equal(after.mode & 0o777, 0o750);
    assert.deepEqual(readdirSync(dir).sort(), ['audio', 'brass.csv', 'brass.html', 'eval-nsynth.json', 'index.html', 'notes.csv', 'skipped.csv', 'summary.csv']);
    assert.equal(readFileSync(path.join(dir, 'audio', 'brass_acoustic_006-060-100.cnn.wav'), 'utf8'), 'first audio/brass_acoustic_006-060-100.cnn.wav');
    assert.equal(checkReportFolder(dir), 'report');
    // A second run replaces that report as any other.
    await replaceReportFolder(dir, writer(['notes.csv'], 'second'));
    assert.deepEqual(readdirSync(dir).sort(), ['eval-nsynth.json', 'notes.csv']);
  });

  it('a failed write leaves the folder empty; a file that arrived during the run is left with it, the report named', async () => {
    const dir = fresh();
    await assert.rejects(replaceReportFolder(dir, async () => {
      throw new Error('disk full');
    }), /disk full/);
    assert.deepEqual(readdirSync(dir), []);
    const { tmp, error } = await runWithArrival(dir);
    assert.equal(error.message, `${dir}: was empty when this run started and now holds arrived.txt; this run's report was left in ${tmp}`);
  });

  it('a move cut short is taken back: the folder holds nothing but the hidden folder of the report, named', async () => {
    const dir = fresh();
    const failThird = failingRenames((call) => call === 3, 'EIO: simulated');
    let tmp = '';
    await assert.rejects(
      replaceReportFolder(dir, async (into) => {
        tmp = into;
        await writer(REPORT_FILES, 'new')(into);
      }, {}, failThird),
      (e: Error) => e.message === `${dir}: could not move this run's report there (EIO: simulated); it holds nothing but this run's report, in ${tmp}`,
    );
    assert.deepEqual(readdirSync(dir), [path.basename(tmp)]);
    assert.ok(existsSync(path.join(tmp, REPORT_MARKER)) && existsSync(path.join(tmp, 'notes.csv')) && existsSync(path.join(tmp, 'audio')));
  });
});

describe('replaceReportFolder over a report that cannot be renamed (a mount point)', () => {
  /** Real renames (the calls `fails` picks throw), with `dir` taken for a mount point. */
  const mounted = (dir: string, fails: (call: number) => boolean = () => false) => ({ ...failingRenames(fails, 'EIO: simulated'), isMountPoint: (d: string) => d === dir });

  it('replaces the report inside the folder: same folder (inode), the new report whole, nothing hidden left', async () => {
    const dir = fresh();
    await replaceReportFolder(dir, writer(REPORT_FILES, 'old'));
    const before = statSync(dir);
    assert.equal(await replaceReportFolder(dir, writer(['notes.csv', 'keyboard.csv'], 'new'), {}, mounted(dir)), 'new');
    assert.equal(statSync(dir).ino, before.ino, 'the folder was replaced, not written into');
    assert.deepEqual(readdirSync(dir).sort(), ['eval-nsynth.json', 'keyboard.csv', 'notes.csv']);
    assert.equal(readFileSync(path.join(dir, 'notes.csv'), 'utf8'), 'new notes.csv');
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, REPORT_MARKER), 'utf8')).files, ['keyboard.csv', 'notes.csv']);
    // A report from before the marker is replaced the same way.
    const legacy = fresh();
    for (const f of ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html', 'brass.html']) writeFileSync(path.join(legacy, f), 'legacy');
    await replaceReportFolder(legacy, writer(['notes.csv'], 'new'), {}, mounted(legacy));
    assert.deepEqual(readdirSync(legacy).sort(), ['eval-nsynth.json', 'notes.csv']);
  });

  it('a user file that arrived during the run stops it: the previous report and the file stay, the new report is named', async () => {
    const dir = fresh();
    await replaceReportFolder(dir, writer(['notes.csv', 'index.html'], 'old'));
    let tmp = '';
    await assert.rejects(
      replaceReportFolder(dir, async (into) => {
        tmp = into;
        writeFileSync(path.join(into, 'notes.csv'), 'new');
        writeFileSync(path.join(dir, 'thesis.tex'), 'mine');
      }, {}, mounted(dir)),
      (e: Error) => e.message === `${dir}: an eval-nsynth report, but it now also holds thesis.tex, which no report writes; this run's report was left in ${tmp}`,
    );
    assert.equal(readFileSync(path.join(dir, 'notes.csv'), 'utf8'), 'old notes.csv');
    assert.equal(readFileSync(path.join(dir, 'thesis.tex'), 'utf8'), 'mine');
    assert.equal(readFileSync(path.join(tmp, 'notes.csv'), 'utf8'), 'new');
  });

  it('a move cut short is taken back: the previous report is as it was, the new one named', async () => {
    for (const failing of [2, 9]) {
      // Call 2 moves the previous report's second entry aside; call 9 moves one of this run's up.
      const dir = fresh();
      await replaceReportFolder(dir, writer(REPORT_FILES, 'old'));
      const before = snapshot(dir);
      let tmp = '';
      await assert.rejects(
        replaceReportFolder(dir, async (into) => {
          tmp = into;
          await writer(REPORT_FILES, 'new')(into);
        }, {}, mounted(dir, (call) => call === failing)),
        (e: Error) => e.message === `${dir}: could not move this run's report there (EIO: simulated); the previous report is back, this run's is in ${tmp}`,
      );
      // Nothing but the previous report and this run's hidden folder: the second hidden folder is gone.
      const hidden = path.basename(tmp);
      assert.deepEqual(Object.fromEntries(Object.entries(snapshot(dir)).filter(([k]) => !k.startsWith(hidden))), before, `call ${failing}: the previous report is not back as it was`);
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [hidden]);
      assert.equal(readFileSync(path.join(tmp, 'notes.csv'), 'utf8'), 'new notes.csv');
    }
  });
});

describe('isMountPoint', () => {
  it('says yes for the root, no for an ordinary folder', () => {
    assert.equal(isMountPoint('/'), true);
    assert.equal(isMountPoint(fresh()), false);
  });

  // The mount table in this form is Linux's; elsewhere only the device check applies.
  it('says yes for every folder the mount table lists (Linux)', { skip: process.platform !== 'linux' && 'no /proc/self/mountinfo' }, () => {
    const folders = mountPointsOf(readFileSync('/proc/self/mountinfo', 'utf8')).filter((p) => {
      try {
        return statSync(p).isDirectory();
      } catch {
        return false;
      }
    });
    assert.ok(folders.length >= 2, `the mount table lists ${folders.length} folders`);
    for (const p of folders) assert.equal(isMountPoint(p), true, p);
  });

  it('reads mount points out of mountinfo lines, octal escapes decoded', () => {
    const table = [
      '22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw',
      '36 22 8:1 /srv/out /reports\\040and\\040more rw,relatime shared:9 - ext4 /dev/sda1 rw',
      '',
    ].join('\n');
    assert.deepEqual(mountPointsOf(table), ['/', '/reports and more']);
  });
});

describe('realReportPath', () => {
  it('resolves links also when the folder does not exist yet, and refuses a link to nothing', () => {
    const base = fresh();
    const real = path.join(base, 'real');
    mkdirSync(real);
    const link = path.join(base, 'link');
    symlinkSync(real, link);
    assert.equal(realReportPath(path.join(link, 'a', 'b')), path.join(real, 'a', 'b'));
    const dangling = path.join(base, 'dangling');
    symlinkSync(path.join(base, 'gone'), dangling);
    for (const p of [dangling, path.join(dangling, 'report')]) {
      assert.throws(() => realReportPath(p), (e: Error) => e.message === `${p}: ${dangling} is a symbolic link to a missing target`);
      assert.throws(() => checkReportFolder(p), /is a symbolic link to a missing target/);
    }
    assert.ok(!existsSync(path.join(base, 'gone')));
  });
});

describe('isWithinFolder', () => {
  it('decides by the folders themselves, not by how their paths are spelled', () => {
    const base = fresh();
    const notes = path.join(base, 'nsynth-test');
    mkdirSync(path.join(notes, 'audio'), { recursive: true });
    mkdirSync(path.join(base, 'nsynth-test2'));
    const link = path.join(base, 'datasets-link');
    symlinkSync(base, link);
    assert.equal(isWithinFolder(notes, notes), true, 'the folder itself');
    assert.equal(isWithinFolder(path.join(notes, 'audio', 'r', 'deeper'), notes), true, 'inside, not there yet');
    // Another spelling of the same folder (a link here; capitals on macOS, a bind mount elsewhere).
    assert.equal(isWithinFolder(path.join(link, 'nsynth-test', 'report'), notes), true, 'through a link');
    assert.equal(isWithinFolder(path.join(base, 'nsynth-test2', 'report'), notes), false, 'a sibling sharing the prefix');
    assert.equal(isWithinFolder(path.join(base, 'report'), notes), false, 'beside it');
    writeFileSync(path.join(base, 'notes.tfrecord'), '');
    assert.equal(isWithinFolder(path.join(base, 'report'), path.join(base, 'notes.tfrecord')), false, 'a file holds no folder');
  });
});

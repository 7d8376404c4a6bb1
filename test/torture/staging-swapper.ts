// Child process of staging-attacks.test.ts: swaps directories for symlinks pointing outside, in a
// loop, until SIGTERM. Argument: JSON [{ dir, link }] — `link` is a prepared symlink (pointing out of
// the roots) beside `dir`. One swap: dir → dir.aside, link → dir (the name is now the symlink), back:
// dir → link, dir.aside → dir. Node has no renameat2(RENAME_EXCHANGE), so the name is missing for a
// moment between the two renames; the processor may create a fresh directory there (user area): the
// swapper renames such a stray aside (`<dir>.stray-<n>`, still inside the area) and carries on.
// Writes {"swaps": n, "strays": m} to stdout when it exits, with every pair restored (dir = the real directory).
import { lstatSync, renameSync } from 'node:fs';

interface Pair { dir: string; link: string; aside: string; ino: number }
const pairs: Pair[] = (JSON.parse(process.argv[2]!) as { dir: string; link: string }[])
  .map((p) => ({ ...p, aside: `${p.dir}.aside`, ino: lstatSync(p.dir).ino }));

const lst = (p: string) => { try { return lstatSync(p); } catch { return null; } };
const tryRename = (a: string, b: string) => { try { renameSync(a, b); return true; } catch { return false; } };
let strays = 0;
/** Moves a directory the processor created at the name out of the way (atomic, whatever it holds). */
const dropStray = (p: Pair) => tryRename(p.dir, `${p.dir}.stray-${++strays}`);

/** Makes `dir` the symlink. */
function swapIn(p: Pair): boolean {
  const st = lst(p.dir);
  if (st?.isDirectory()) {
    if (st.ino === p.ino) { if (!tryRename(p.dir, p.aside)) return false; } else dropStray(p);
  }
  if (tryRename(p.link, p.dir)) return true;
  // a stray directory appeared at the name meanwhile: drop it, try once more
  const again = lst(p.dir);
  if (again?.isDirectory() && again.ino !== p.ino) dropStray(p);
  return tryRename(p.link, p.dir);
}

/** Makes `dir` the real directory again (and `link` the symlink). */
function swapOut(p: Pair) {
  if (lst(p.dir)?.isSymbolicLink()) tryRename(p.dir, p.link);
  if (!lst(p.aside)) return;
  if (tryRename(p.aside, p.dir)) return; // also replaces an empty stray directory atomically
  if (lst(p.dir)?.isDirectory()) dropStray(p); // a non-empty stray
  tryRename(p.aside, p.dir);
}

let swaps = 0;
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });

function finish() {
  for (const p of pairs) swapOut(p);
  process.stdout.write(JSON.stringify({ swaps, strays }) + '\n', () => process.exit(0));
}

function burst() {
  for (let i = 0; i < 50 && !stopping; i++) {
    for (const p of pairs) if (swapIn(p)) swaps++;
    for (const p of pairs) swapOut(p);
  }
  if (stopping) finish();
  else setImmediate(burst); // lets SIGTERM in
}
process.stdout.write('ready\n');
burst();

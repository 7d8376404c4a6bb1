// Fetches a component's jars with Maven (dependency:copy-dependencies of a small pom under
// infra/maven/<name>/) into <stateDir>/lib/<name>-<pom hash>/; later runs reuse the directory.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INFRA_DIR = dirname(fileURLToPath(import.meta.url));
const DONE = '.complete';

function pomOf(name: string) {
  const pom = join(INFRA_DIR, 'maven', name, 'pom.xml');
  const text = readFileSync(pom, 'utf8');
  return { pom, text, hash: createHash('sha256').update(text).digest('hex').slice(0, 10) };
}

/** Where the jars of `name` live (whether or not fetched yet). */
export function libDir(stateDir: string, name: string): string {
  return join(stateDir, 'lib', `${name}-${pomOf(name).hash}`);
}

export function isFetched(stateDir: string, name: string): boolean {
  return existsSync(join(libDir(stateDir, name), DONE));
}

export function mvnBin(): string {
  const home = process.env.MAVEN_HOME ?? process.env.M2_HOME;
  return home ? join(home, 'bin', 'mvn') : 'mvn';
}

/** Downloads (first run) and copies the runtime jars of infra/maven/<name>/pom.xml. */
export async function fetchArtifacts(stateDir: string, name: string, log: (msg: string) => void): Promise<string> {
  const dir = libDir(stateDir, name);
  if (existsSync(join(dir, DONE))) return dir;
  const { pom } = pomOf(name);
  // run Maven on a copy so the work tree gets no target/ directory
  const work = join(stateDir, 'maven', name);
  mkdirSync(work, { recursive: true });
  copyFileSync(pom, join(work, 'pom.xml'));
  rmSync(dir, { recursive: true, force: true });
  log(`${name}: fetching jars with Maven (first run only) into ${dir}`);
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const args = ['-B', '-f', join(work, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${dir}`, '-DincludeScope=runtime', '-Dmdep.useRepositoryLayout=false'];
    const child = spawn(mvnBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let downloaded = 0;
    let lastLog = 0;
    const tail: string[] = [];
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      if (/^\[INFO\] Downloaded from/.test(line)) {
        downloaded++;
        if (Date.now() - lastLog > 2000) {
          lastLog = Date.now();
          log(`${name}: downloaded ${downloaded} files… (${line.replace(/^.*\/([^/]+) \(.*$/, '$1')})`);
        }
      }
    };
    let buf = '';
    const feed = (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', (err) => reject(new Error(`${name}: cannot run ${mvnBin()} (${err.message}); install Maven (apt-get install maven) or run sh infra/setup.sh`)));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      reject(new Error(`${name}: Maven failed (exit ${code})\n${tail.join('\n')}`));
    });
  });
  const jars = readdirSync(dir).filter((f) => f.endsWith('.jar')).length;
  writeFileSync(join(dir, DONE), `${new Date().toISOString()} ${jars} jars\n`);
  log(`${name}: ${jars} jars ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

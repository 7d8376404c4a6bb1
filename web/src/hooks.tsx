// Small shared pieces: polling, a confirmation dialog, progress bars, error text.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

/** Calls `fn` now and every `ms` (while the tab is open); `reload()` calls it at once. */
export function usePoll<T>(fn: () => Promise<T>, ms: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef(fn);
  ref.current = fn;
  const reload = useCallback(async () => {
    try { setData(await ref.current()); setError(null); } catch (err) { setError((err as Error).message); }
  }, []);
  useEffect(() => {
    void reload();
    const t = setInterval(() => void reload(), ms);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ms, reload, ...deps]);
  return { data, error, reload };
}

/** A modal confirmation (native <dialog>: focus is trapped, Escape cancels). */
export function Confirm(props: { open: boolean; title: string; children?: ReactNode; confirmLabel: string; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const ok = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) { d.showModal(); ok.current?.focus(); }
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} onCancel={(e) => { e.preventDefault(); props.onCancel(); }} aria-labelledby="confirm-title">
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div className="row end">
        <button type="button" onClick={props.onCancel}>Cancel</button>
        <button type="button" className="danger" onClick={props.onConfirm} ref={ok}>{props.confirmLabel}</button>
      </div>
    </dialog>
  );
}

/** ready / error / total as one bar with two segments and an accessible value. */
export function JobBar({ ready, error, total, label }: { ready: number; error: number; total: number; label: string }) {
  const done = total ? Math.round((100 * (ready + error)) / total) : 0;
  return (
    <div className="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={done} data-testid="job-progress">
      <span className="ok" style={{ width: `${total ? (100 * ready) / total : 0}%` }} />
      <span className="err" style={{ width: `${total ? (100 * error) / total : 0}%` }} />
      <em>{done} % · {ready} ready{error ? `, ${error} error` : ''} / {total}</em>
    </div>
  );
}

export const Err = ({ text }: { text: string | null }) => (text ? <p className="error" role="alert">{text}</p> : null);

export const fmtBytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
export const fmtTime = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '–');

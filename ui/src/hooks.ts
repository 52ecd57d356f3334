import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './format.js';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  updatedAt: Date | null;
  reload: () => void;
}

/**
 * Loads with `load` now, whenever `deps` change, and every `pollMs` (when given) while the tab is
 * visible. A slow answer never overwrites a newer one.
 */
export function usePolled<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const seq = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const reload = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    loader
      .current()
      .then((d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
        setUpdatedAt(new Date());
      })
      .catch((err: unknown) => {
        if (mine === seq.current) setError(errorText(err));
      })
      .finally(() => {
        if (mine === seq.current) setLoading(false);
      });
  }, []);

  useEffect(() => {
    reload();
    if (!pollMs) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, pollMs);
    return () => clearInterval(timer);
  }, [...deps, pollMs]);

  return { data, error, loading, updatedAt, reload };
}

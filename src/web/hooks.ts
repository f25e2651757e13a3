import { useEffect, useState } from 'preact/hooks';
import type { LiveQueue } from './live.js';

/** Re-renders the caller whenever the live queue changes. */
export function useLive(live: LiveQueue): number {
  const [version, setVersion] = useState(live.version);
  useEffect(() => live.subscribe(() => setVersion(live.version)), [live]);
  return version;
}

export type Route =
  | { page: 'login' }
  | { page: 'signup' }
  | { page: 'queue' }
  | { page: 'request'; id: string }
  | { page: 'admin' };

/** Pages live in the URL's fragment (#/queue, #/requests/<id>…): the server serves one page. */
export function parseRoute(hash: string): Route {
  const [page = '', id] = hash.replace(/^#\/?/, '').split('/');
  if (page === 'requests' && id) return { page: 'request', id: decodeURIComponent(id) };
  if (page === 'signup' || page === 'admin' || page === 'login') return { page };
  return { page: 'queue' };
}

export const href = {
  login: '#/login',
  signup: '#/signup',
  queue: '#/queue',
  admin: '#/admin',
  request: (id: string) => `#/requests/${encodeURIComponent(id)}`,
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

export function navigate(to: string): void {
  location.hash = to;
}

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { PublicUser } from '../client/index.js';
import { href, navigate, useRoute, type Route } from './hooks.js';
import { LiveQueue } from './live.js';
import { AdminPage } from './pages/admin.js';
import { AuthPage } from './pages/auth.js';
import { DetailPage } from './pages/detail.js';
import { QueuePage } from './pages/queue.js';
import { client, onSignedOut } from './session.js';
import { describeError, ErrorNote } from './ui.js';

interface Session {
  user: PublicUser;
  /** One live view of the queue per session, shared by the pages (one event stream). */
  live: LiveQueue;
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session>();
  const [notice, setNotice] = useState<string>();

  useEffect(() => onSignedOut(() => setSession(undefined)), []);
  // A session's event stream ends with it.
  useEffect(() => () => session?.live.stop(), [session]);

  if (!session) {
    const signUp = route.page === 'signup';
    return (
      <Frame>
        <AuthPage
          mode={signUp ? 'signup' : 'login'}
          notice={notice}
          onSignedUp={() => {
            setNotice('Account created. Log in with it.');
            navigate(href.login);
          }}
          onSignedIn={(user) => {
            const live = new LiveQueue();
            live.start();
            setNotice(undefined);
            setSession({ user, live });
            if (route.page === 'login' || signUp) navigate(href.queue);
          }}
        />
      </Frame>
    );
  }
  return (
    <Frame user={session.user} route={route}>
      <Page route={route} {...session} />
    </Frame>
  );
}

function Page({ route, user, live }: { route: Route; user: PublicUser; live: LiveQueue }) {
  if (route.page === 'request') return <DetailPage id={route.id} live={live} />;
  if (route.page === 'admin') {
    return user.role === 'admin' ? <AdminPage /> : <ErrorNote>This page is for administrators.</ErrorNote>;
  }
  return <QueuePage live={live} />;
}

interface FrameProps {
  user?: PublicUser;
  route?: Route;
  children: ComponentChildren;
}

function Frame({ user, route, children }: FrameProps) {
  const [problem, setProblem] = useState<string>();
  const logOut = async () => {
    try {
      // Dropping the tokens signs the App out (onSignedOut), as a refused refresh does.
      await client.logout();
      navigate(href.login);
    } catch (error) {
      setProblem(describeError(error));
    }
  };
  const current = (page: Route['page']) => (route?.page === page ? 'page' : undefined);
  return (
    <>
      {/* The fragment holds the route, so the skip link moves focus itself instead of navigating. */}
      <a class="skip" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">laneq</span>
        {user && (
          <nav aria-label="Main">
            <a href={href.queue} aria-current={current('queue')}>
              My queue
            </a>
            {user.role === 'admin' && (
              <a href={href.admin} aria-current={current('admin')}>
                Admin
              </a>
            )}
          </nav>
        )}
        {user && (
          <div class="who">
            <span>
              Signed in as <strong>{user.username}</strong>
            </span>
            <button type="button" onClick={logOut}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorNote>{problem}</ErrorNote>
        {children}
      </main>
    </>
  );
}

function skipToMain(event: MouseEvent): void {
  event.preventDefault();
  document.getElementById('main')?.focus();
}

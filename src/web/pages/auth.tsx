import { useState } from 'preact/hooks';
import type { PublicUser } from '../../client/index.js';
import { href } from '../hooks.js';
import { client, signIn } from '../session.js';
import { describeError, ErrorNote, PageTitle } from '../ui.js';

interface AuthProps {
  mode: 'login' | 'signup';
  notice: string | undefined;
  onSignedUp: () => void;
  onSignedIn: (user: PublicUser) => void;
}

/** Log in or sign up: one form, two modes (the fragment picks the mode). */
export function AuthPage({ mode, notice, onSignedUp, onSignedIn }: AuthProps) {
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const signUp = mode === 'signup';

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const username = String(data.get('username') ?? '');
    const password = String(data.get('password') ?? '');
    setBusy(true);
    setProblem(undefined);
    try {
      if (signUp) {
        await client.register(username, password);
        onSignedUp();
      } else {
        onSignedIn(await signIn(username, password));
      }
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card narrow" key={mode}>
      <PageTitle>{signUp ? 'Sign up' : 'Log in'}</PageTitle>
      {notice && !signUp && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit} aria-describedby={problem ? 'auth-error' : undefined}>
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required autoCapitalize="none" spellcheck={false} />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete={signUp ? 'new-password' : 'current-password'}
          required
        />
        <ErrorNote id="auth-error">{problem}</ErrorNote>
        <button type="submit" class="primary" disabled={busy}>
          {signUp ? 'Create account' : 'Log in'}
        </button>
      </form>
      <p>
        {signUp ? (
          <>
            Have an account? <a href={href.login}>Log in</a>
          </>
        ) : (
          <>
            New here? <a href={href.signup}>Sign up</a>
          </>
        )}
      </p>
    </section>
  );
}

import { createClient, type PublicUser } from '../client/index.js';

/**
 * The console's one SDK client. Its tokens live only in this page's memory (the SDK renews them
 * before they expire); nothing is written to localStorage, so a reload signs out.
 */
type SignedOutListener = () => void;
const signedOutListeners = new Set<SignedOutListener>();

export const client = createClient({
  baseUrl: location.origin,
  // The SDK drops the tokens when a refresh is refused (session revoked or expired).
  onTokens: (tokens) => {
    if (!tokens) for (const listener of signedOutListeners) listener();
  },
});

export function onSignedOut(listener: SignedOutListener): () => void {
  signedOutListeners.add(listener);
  return () => {
    signedOutListeners.delete(listener);
  };
}

/** Logs in and says who signed in (the role decides whether the admin pages show). */
export async function signIn(username: string, password: string): Promise<PublicUser> {
  await client.login(username, password);
  return client.me();
}

import { defineConfig } from 'vite';

/**
 * The web console, built by `npm run build` (`vite build src/web`, so this directory is the root)
 * into dist/web, which the API serves at `/` (src/api/web-console.ts).
 */
export default defineConfig({
  base: '/',
  // Preact's automatic JSX runtime (tsconfig says the same for the type checker).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // Small enough to ship as is; no inline data URLs, which the console's CSP would refuse.
    assetsInlineLimit: 0,
  },
});

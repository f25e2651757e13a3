import { readFile, writeFile } from 'node:fs/promises';
import { renderEnvExample, replaceReadmeTable } from '../src/config-docs.js';

await writeFile('.env.example', renderEnvExample());
await writeFile('README.md', replaceReadmeTable(await readFile('README.md', 'utf8')));
console.log('wrote .env.example and the README configuration table');
